package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Shutdown stages, in order.
const (
	stageIngress = "sftp" // no more uploads
	stageWork    = "work" // intake, cycle steps, resume, scheduler, ledger events
	stageAPI     = "http" // health and metrics last: they answer while the rest drains
)

// component is one part of settle serve. start sets it up and starts its
// goroutines in its stage (services.run); the stop it returns, nil if it has
// nothing of its own to stop, runs before its stage's goroutines are ended.
// A component that is not configured starts nothing and returns no error.
type component struct {
	name  string
	stage string
	start func() (stop func(), err error)
}

// stage is a set of goroutines of settle serve that stop together, at
// their turn of the shutdown: each has its own context, ended when its
// stage's turn comes.
type stage struct {
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// services runs the goroutines of settle serve and stops them in order.
// Errors are collected without bound (the error channel of four could not
// hold six senders), and the first one starts the shutdown.
type services struct {
	log    *slog.Logger
	stages []*stage
	fail   context.CancelFunc // starts the shutdown

	mu   sync.Mutex
	errs []error // the goroutines' failures
	late []error // the stages that did not stop in time
}

func newServices(parent context.Context, log *slog.Logger, names ...string) (*services, context.Context) {
	failed, fail := context.WithCancel(parent)
	sv := &services{log: log, fail: fail}
	for _, n := range names {
		// Not children of failed: a stage ends at its own turn, so that
		// the SFTP server is closed before the intake stops, and the
		// intake, the cycle steps and the scheduler before the HTTP
		// endpoints and the database.
		ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
		sv.stages = append(sv.stages, &stage{name: n, ctx: ctx, cancel: cancel})
	}
	return sv, failed
}

func (sv *services) stage(name string) *stage {
	for _, st := range sv.stages {
		if st.name == name {
			return st
		}
	}
	panic("serve: no stage " + name)
}

// run starts fn in stage name with that stage's context.
func (sv *services) run(name, stageName string, fn func(ctx context.Context) error) {
	st := sv.stage(stageName)
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		if err := fn(st.ctx); err != nil && st.ctx.Err() == nil {
			sv.mu.Lock()
			sv.errs = append(sv.errs, fmt.Errorf("%s: %w", name, err))
			sv.mu.Unlock()
			sv.log.Error("service failed: shutting down", "service", name, "err", err)
			sv.fail()
		}
	}()
}

// start starts cs in order; a stage's components are next to each other in
// the list (a stage is stopped whole, once). If one fails, the components
// started are stopped in reverse, and the error names the one that failed.
// The returned stop stops every component in reverse: its own stop, then,
// after the first of its stage's, the stage's goroutines.
func (sv *services) start(cs []component) (stop func(), err error) {
	var started []component
	var stops []func()
	stop = func() {
		sv.fail()
		for i := len(started) - 1; i >= 0; i-- {
			if stops[i] != nil {
				stops[i]()
			}
			if i == 0 || started[i-1].stage != started[i].stage {
				sv.end(sv.stage(started[i].stage))
			}
		}
	}
	for i, c := range cs {
		for _, d := range cs[:i] {
			if d.stage == c.stage && cs[i-1].stage != c.stage {
				panic("serve: the components of stage " + c.stage + " are not next to each other")
			}
		}
		s, err := c.start()
		if err != nil {
			stop()
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		started, stops = append(started, c), append(stops, s)
	}
	return stop, nil
}

// end stops a stage's goroutines within shutdownStageTimeout; one that did
// not stop in time is reported by err, and the process ends anyway.
func (sv *services) end(st *stage) {
	st.cancel()
	done := make(chan struct{})
	go func() { st.wg.Wait(); close(done) }()
	select {
	case <-done:
		sv.log.Info("shutdown: stage stopped", "stage", st.name)
	case <-time.After(shutdownStageTimeout):
		sv.log.Error("shutdown: stage did not stop in time", "stage", st.name, "timeout", shutdownStageTimeout)
		sv.mu.Lock()
		sv.late = append(sv.late, fmt.Errorf("shutdown: %s did not stop within %v", st.name, shutdownStageTimeout))
		sv.mu.Unlock()
	}
}

// err is what the services failed with, and any stage that did not stop
// in time.
func (sv *services) err() error {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return errors.Join(append(append([]error(nil), sv.errs...), sv.late...)...)
}
