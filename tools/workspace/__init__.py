"""The project workspace: configuration, files, jobs and status."""
