"""llama.cpp support: its sources from the llama-cpp-python sdist, and quieting its native output."""
