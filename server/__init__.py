"""HTTP completion server: OpenAI-compatible `/v1/completions` and llama.cpp-compatible `/infill`."""
