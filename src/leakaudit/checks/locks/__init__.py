"""Checks on locks beyond the obligation to unlock (which checks/obligation.py follows,
a held lock being a resource): a goroutine taking a lock it already holds."""
