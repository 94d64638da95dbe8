"""Goroutine checks: goroutines blocked forever on a channel their launcher abandons,
endless goroutines nothing can stop, ticker loops that outlive Stop, and WaitGroup.Add
inside the goroutine it counts.

`launches` finds every `go` statement and what it runs; `channels` follows local and
struct-field channels; `exits` answers "can this goroutine ever end?". The rule
modules only combine those facts.
"""
