// Package cancels holds one case per way a context's cancel func is lost or kept, for
// comparing what go vet's lostcancel and leakaudit report on the same code
// (bench/compare_vet.py). Each case says what it is; none is taken from a benchmark.
package cancels

import (
	"context"
	"errors"
	"time"
)

// Discarded: the cancel func is assigned to _. (leak)
func Discarded(parent context.Context) error {
	ctx, _ := context.WithTimeout(parent, time.Second)
	return ping(ctx)
}

// EarlyReturn: the error path skips cancel. (leak)
func EarlyReturn(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, time.Second)
	if err := ping(ctx); err != nil {
		return err
	}
	cancel()
	return nil
}

// BlankUse: `_ = cancel` silences lostcancel; nothing calls it. (leak)
func BlankUse(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	_ = cancel
	return ping(ctx)
}

// HelperForgets: handed to a helper that only reads it. (leak)
func HelperForgets(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	logCancel(cancel)
	return ping(ctx)
}

func logCancel(cancel context.CancelFunc) { _ = cancel != nil }

// StoredNeverCalled: kept in a field that nothing in the package calls. (leak)
type Job struct{ stop context.CancelFunc }

func StoredNeverCalled(parent context.Context) *Job {
	_, cancel := context.WithCancel(parent)
	return &Job{stop: cancel}
}

// OwnerNotStopped: a constructor stores it; the caller never calls Close. (leak)
type Worker struct{ cancel context.CancelFunc }

func NewWorker(parent context.Context) *Worker {
	_, cancel := context.WithCancel(parent)
	return &Worker{cancel: cancel}
}

func (w *Worker) Close() { w.cancel() }

func UseWorker(parent context.Context) string {
	w := NewWorker(parent)
	return describe(w)
}

func describe(w *Worker) string { return "worker" }

// Deferred: released on every path. (safe)
func Deferred(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, time.Second)
	defer cancel()
	return ping(ctx)
}

// Returned: the caller owns it. (safe)
func Returned(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(parent)
}

// HelperCalls: handed to a helper that calls it on every path. (safe)
func HelperCalls(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer release(cancel)
	return ping(ctx)
}

func release(cancel context.CancelFunc) { cancel() }

// EveryBranch: cancelled on each path by hand. (safe)
func EveryBranch(parent context.Context, fast bool) error {
	ctx, cancel := context.WithTimeout(parent, time.Second)
	if fast {
		cancel()
		return errors.New("fast")
	}
	err := ping(ctx)
	cancel()
	return err
}

func ping(ctx context.Context) error { return ctx.Err() }
