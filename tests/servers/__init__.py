"""Local servers and tiny models for tests and benchmarks: no network, no hub.

- ``openai_fault.FaultServer``: an OpenAI-compatible chat server that injects faults (429 with
  Retry-After, 500, 503, hangs, connection resets, malformed or empty bodies) at configurable rates
  and latency, and counts what it saw (requests per prompt, most requests in flight).
- ``tiny_llama.build_tiny_llama``: a random-initialised Llama with a trained BPE tokenizer and a
  chat template, built and saved in well under a second.
- ``serve.transformers_serve``: a real ``transformers serve`` process on a model folder.
"""
