"""Pure domain rules: no I/O, no AWS, no HTTP. Every function here is unit-tested."""
