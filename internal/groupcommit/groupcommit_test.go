package groupcommit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestGroupsAndFallback: concurrent requests share transactions, every
// item is committed exactly once, and a group holding a bad request is
// retried request by request so only that one fails.
func TestGroupsAndFallback(t *testing.T) {
	var mu sync.Mutex
	var committed []int
	var calls atomic.Int32
	gate := make(chan struct{})
	commit := func(_ context.Context, items []int) error {
		if calls.Add(1) == 1 {
			<-gate // hold the first commit so others pile up behind it
		}
		if slices.Contains(items, -1) {
			return errors.New("bad item")
		}
		mu.Lock()
		committed = append(committed, items...)
		mu.Unlock()
		return nil
	}
	var sizes []int
	c := New(t.Context(), commit, Options[int]{MaxItems: 100, Observe: func(n int) { sizes = append(sizes, n) }})
	first := make(chan error, 1)
	go func() { first <- c.Commit(t.Context(), []int{0}) }()
	for calls.Load() == 0 {
	}
	var wg sync.WaitGroup
	errs := make([]error, 21)
	for i := 1; i <= 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Commit(t.Context(), []int{i, i + 1000}) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); errs[0] = c.Commit(t.Context(), []int{-1}) }()
	for len(c.queue) < 21 {
	}
	close(gate)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if errs[0] == nil {
		t.Fatal("the bad request was not refused")
	}
	for i := 1; i <= 20; i++ {
		if errs[i] != nil {
			t.Fatalf("request %d failed with the bad one: %v", i, errs[i])
		}
	}
	slices.Sort(committed)
	want := []int{0}
	for i := 1; i <= 20; i++ {
		want = append(want, i)
	}
	for i := 1; i <= 20; i++ {
		want = append(want, i+1000)
	}
	slices.Sort(want)
	if !slices.Equal(committed, want) {
		t.Fatalf("committed %v, want %v", committed, want)
	}
	// 1 alone, then one group of all 21 (42 items... MaxItems 100), refused,
	// then the 21 requests one by one.
	if got := int(calls.Load()); got != 1+1+21 {
		t.Fatalf("%d commits, want 23", got)
	}
	if len(sizes) < 2 || sizes[1] != 41 {
		t.Fatalf("group sizes %v: the waiting requests did not share a group", sizes)
	}
}

// TestBounds: a group stops growing at MaxItems and at MaxBytes.
func TestBounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		o        Options[int]
		requests int
		maxGroup int
	}{
		{"items", Options[int]{MaxItems: 4}, 10, 4},
		{"bytes", Options[int]{MaxItems: 100, MaxBytes: 30, Size: func(int) int { return 10 }}, 10, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate := make(chan struct{})
			var calls atomic.Int32
			var mu sync.Mutex
			var groups []int
			c := New(t.Context(), func(_ context.Context, items []int) error {
				if calls.Add(1) == 1 {
					<-gate
				}
				mu.Lock()
				groups = append(groups, len(items))
				mu.Unlock()
				return nil
			}, tc.o)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.Commit(t.Context(), []int{0}) }()
			for calls.Load() == 0 {
			}
			for i := range tc.requests {
				wg.Add(1)
				go func() { defer wg.Done(); _ = c.Commit(t.Context(), []int{i}) }()
			}
			for len(c.queue) < tc.requests {
			}
			close(gate)
			wg.Wait()
			total := 0
			for _, g := range groups[1:] {
				if g > tc.maxGroup {
					t.Fatalf("a group of %d items, bound %d: %v", g, tc.maxGroup, groups)
				}
				total += g
			}
			if total != tc.requests {
				t.Fatalf("%d items committed, want %d", total, tc.requests)
			}
		})
	}
}

// TestCallerGivesUp: a caller whose context ends gets its error at once.
func TestCallerGivesUp(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	c := New(t.Context(), func(context.Context, []int) error { <-block; return nil }, Options[int]{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Commit(ctx, []int{1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestDelay: under load (the last group had several requests) a group
// waits Delay for more; a lone request after a quiet spell does not wait.
func TestDelay(t *testing.T) {
	var mu sync.Mutex
	var groups [][]int
	gate := make(chan struct{})
	var calls atomic.Int32
	commit := func(_ context.Context, items []int) error {
		if calls.Add(1) == 1 {
			<-gate
		}
		mu.Lock()
		groups = append(groups, slices.Clone(items))
		mu.Unlock()
		return nil
	}
	c := New(t.Context(), commit, Options[int]{Delay: 300 * time.Millisecond})
	done := make(chan error, 10)
	// A quiet start: the first request is committed at once (its commit
	// is held so that two more pile up behind it: a busy group).
	go func() { done <- c.Commit(t.Context(), []int{1}) }()
	for calls.Load() == 0 {
	}
	go func() { done <- c.Commit(t.Context(), []int{2}) }()
	go func() { done <- c.Commit(t.Context(), []int{3}) }()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	<-done
	<-done
	<-done
	// Busy now: a request waits for the one that comes 100 ms later.
	go func() { done <- c.Commit(t.Context(), []int{4}) }()
	time.Sleep(100 * time.Millisecond)
	go func() { done <- c.Commit(t.Context(), []int{5}) }()
	<-done
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(groups) != 3 || len(groups[0]) != 1 || len(groups[1]) != 2 || len(groups[2]) != 2 {
		t.Fatalf("groups %v, want [[1] [2 3] [4 5]]", groups)
	}
}
