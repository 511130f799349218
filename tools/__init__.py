"""The distillation pipeline: project workspace, teachers, tasks and one module per stage."""
