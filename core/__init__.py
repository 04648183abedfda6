"""vllm-accel core client (placeholder while the client lands)."""
