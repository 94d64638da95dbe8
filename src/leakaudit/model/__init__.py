"""The concurrency model: synchronization skeletons and a search of their interleavings.

A *reach* is a function that makes channels or WaitGroups of its own, together with
the goroutines it launches and the callees it hands them to. `skeleton` compiles a
reach into a small program of synchronization operations (send, receive, close,
select, range, Add/Done/Wait, go, choices and loops); `search` explores that
program's interleavings for a state where a goroutine can never move again; the
path there is the witness a finding carries. This is bounded model checking, on
programs small enough for an explicit-state search in Python.
"""
