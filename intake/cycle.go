package intake

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"settle/settlement"
)

// Input is one file of a cycle, opened when a worker gets to it.
type Input struct {
	Name string
	Open func() (io.ReadCloser, error)
	Sig  func() (Sig, error)
}

// FilesMax bounds the files of one offline cycle check.
const FilesMax = 100_000

// CycleResult is the verdict on every file of a cycle, in input order, and
// the netting when all of them were accepted.
type CycleResult struct {
	Files  []*Result
	Net    *settlement.Result // nil unless every file was accepted
	Netted settlement.Netting
}

// Accepted tells whether every file was accepted.
func (c *CycleResult) Accepted() bool {
	for _, f := range c.Files {
		if !f.Accepted() {
			return false
		}
	}
	return true
}

// CheckCycle checks files that together form one cycle, workers at a time
// (0: one per CPU). Beyond each file's own checks, a file id used twice by
// a sender, a payment id used twice by a sender, the same bytes sent twice
// and an original reversed twice are errors across files, reported in the
// later file in input order, so the same inputs always give the same report.
func CheckCycle(ctx context.Context, in []Input, opts Options, workers int) (*CycleResult, error) {
	if len(in) > FilesMax {
		return nil, fmt.Errorf("%d files in one cycle, at most %d", len(in), FilesMax)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := &CycleResult{Files: make([]*Result, len(in))}
	errs := make([]error, len(in))
	done := checkFiles(ctx, in, opts, workers, out.Files, errs)

	// Across files, in input order: file i is merged into the cycle's
	// index as soon as files 0..i are checked, and its own id map is then
	// released, so the peak holds little more than the cycle's index.
	across := newAcrossFiles()
	ready := make([]bool, len(in))
	merged := 0
	var firstErr error
	for i := range done {
		ready[i] = true
		for merged < len(in) && ready[merged] {
			if err := errs[merged]; err != nil {
				if firstErr == nil {
					firstErr = err
				}
				merged++
				continue
			}
			across.merge(out.Files[merged])
			merged++
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	across.index.Unsettled(func(i int) *settlement.FileCheck { return out.Files[i].check })
	for _, r := range out.Files {
		r.Problems = r.check.Problems.List()
	}
	if !out.Accepted() {
		return out, nil
	}
	if err := out.net(); err != nil {
		return nil, err
	}
	return out, nil
}

// checkFiles checks each file of in on its own, workers at a time, into
// files[i] and errs[i], and sends i on the channel it returns once file i
// is checked; the channel is closed when every worker is done. A
// cancelled ctx stops handing out files.
func checkFiles(ctx context.Context, in []Input, opts Options, workers int, files []*Result, errs []error) <-chan int {
	next := make(chan int)
	done := make(chan int, len(in))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				files[i], errs[i] = checkOne(in[i], opts)
				done <- i
			}
		}()
	}
	go func() {
	feed:
		for i := range in {
			select {
			case next <- i:
			case <-ctx.Done():
				break feed
			}
		}
		close(next)
		wg.Wait()
		close(done)
	}()
	return done
}

// acrossFiles is what the checks across a cycle's files remember of the
// files merged so far: the cycle's payment id index, and each file id
// and digest with the name of the file that first used it.
type acrossFiles struct {
	index   *settlement.IDIndex
	fileIDs map[acrossFileKey]string
	hashes  map[[32]byte]string
}

// acrossFileKey is a file id, which is a sender's own.
type acrossFileKey struct {
	sender settlement.BIC
	id     string
}

func newAcrossFiles() *acrossFiles {
	return &acrossFiles{index: settlement.NewIDIndex(0), fileIDs: map[acrossFileKey]string{}, hashes: map[[32]byte]string{}}
}

// merge checks file r against the files before it (its file id, its
// bytes, its payment ids), then adds it to the index and releases its own
// id map.
func (a *acrossFiles) merge(r *Result) {
	fc := r.check
	if r.Sender != "" && r.FileID != "" {
		k := acrossFileKey{r.Sender, r.FileID}
		if first, dup := a.fileIDs[k]; dup {
			fc.Problem(settlement.Problem{Line: r.headerLine, Field: fc.Fields().FileID, Code: settlement.CodeDuplicateFileID,
				Message: fmt.Sprintf("file id %s of %s is already used by %s", r.FileID, r.Sender, first)})
		} else {
			a.fileIDs[k] = r.Name
		}
	}
	if first, dup := a.hashes[r.SHA256]; dup {
		fc.Problem(settlement.Problem{Code: settlement.CodeDuplicateFile,
			Message: fmt.Sprintf("same bytes as %s", first)})
	} else {
		a.hashes[r.SHA256] = r.Name
	}
	a.index.Add(r.Name, fc)
	fc.ReleaseIDs()
}

// net nets the accepted cycle: every file's netting merged, and the
// result.
func (c *CycleResult) net() error {
	for _, r := range c.Files {
		if err := c.Netted.Merge(r.Netting()); err != nil {
			return err
		}
	}
	res, err := c.Netted.Result()
	if err != nil {
		return err
	}
	c.Net = res
	return nil
}

func checkOne(in Input, opts Options) (*Result, error) {
	sig, err := in.Sig()
	if err != nil {
		return nil, err
	}
	rc, err := in.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return Check(in.Name, rc, sig, opts)
}
