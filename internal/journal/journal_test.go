package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// readAll reads every record from offset from to the end.
func readAll(t *testing.T, j *Journal, from int64) ([]string, int64) {
	t.Helper()
	var out []string
	for from < j.End() {
		recs, next, err := j.Read(from, 7, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", from, err)
		}
		for _, r := range recs {
			out = append(out, string(r))
		}
		if next == from {
			t.Fatalf("read at %d made no progress", from)
		}
		from = next
	}
	return out, from
}

func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		if err := j.Append(ctx, fmt.Appendf(nil, "record %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Append(ctx, []byte("a"), []byte("b"), []byte("c")); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(ctx, []byte("")); !errors.Is(err, ErrEmpty) {
		t.Fatalf("an empty record: %v", err)
	}
	got, end := readAll(t, j, 0)
	if len(got) != 23 || got[0] != "record 0" || got[19] != "record 19" || got[20] != "a" || got[21] != "b" || got[22] != "c" {
		t.Fatalf("read back %q", got)
	}
	id := j.ID()
	if len(id) != 16 {
		t.Fatalf("id %q", id)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second open of the same journal: %v, want ErrLocked", err)
	}
	j.Close()

	j, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.ID() != id || j.End() != end {
		t.Fatalf("reopened: id %s end %d, was %s %d", j.ID(), j.End(), id, end)
	}
	// An offset in the middle names the same record as before.
	recs, _, err := j.Read(int64(header+len("record 0")), 1, 1<<20)
	if err != nil || len(recs) != 1 || string(recs[0]) != "record 1" {
		t.Fatalf("read at the second record: %q %v", recs, err)
	}
	if err := j.Append(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAll(t, j, end); len(got) != 1 || got[0] != "after" {
		t.Fatalf("after reopening: %q", got)
	}
}

// TestTornTail: what a crash can leave at the end (a header without its
// payload, a payload cut short, a bad checksum) is cut off at open, and
// appends go on from the last whole record.
func TestTornTail(t *testing.T) {
	for name, tail := range map[string][]byte{
		"header only":   {5, 0, 0, 0},
		"short payload": {5, 0, 0, 0, 1, 2, 3, 4, 'a', 'b'},
		"bad checksum":  {1, 0, 0, 0, 0, 0, 0, 0, 'x'},
		"absurd length": {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0},
		"zeroes":        make([]byte, 4096),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			j, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			j.Append(ctx, []byte("one"), []byte("two"))
			end := j.End()
			j.Close()
			seg := filepath.Join(dir, "0000000000000000.seg")
			f, _ := os.OpenFile(seg, os.O_WRONLY, 0)
			f.WriteAt(tail, end) // the segment is zeroes after its records
			f.Close()

			j, err = Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if j.End() != end {
				t.Fatalf("end %d after a torn tail, want %d", j.End(), end)
			}
			// Nothing is erased: the bytes stay, and appends go on in a
			// new segment from the last whole record.
			if b, _ := os.ReadFile(seg); !bytes.Contains(b, tail[:4]) {
				t.Fatalf("the bytes after the last whole record were erased")
			}
			if want := map[bool]int{true: 1, false: 2}[name == "zeroes"]; j.Segments() != want {
				t.Fatalf("%d segments, want %d (zeroes are a segment's clean end; anything else, a new segment after it)", j.Segments(), want)
			}
			j.Append(ctx, []byte("three"))
			if got, _ := readAll(t, j, 0); len(got) != 3 || got[2] != "three" {
				t.Fatalf("read back %q", got)
			}
		})
	}
}

func TestSegmentsAndTrim(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	for i := range 50 {
		if err := j.Append(ctx, fmt.Appendf(nil, "record %02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if j.Segments() < 10 {
		t.Fatalf("%d segments of at most 100 bytes for 50 records of 17", j.Segments())
	}
	got, end := readAll(t, j, 0)
	if len(got) != 50 || got[49] != "record 49" {
		t.Fatalf("read %d records, last %q", len(got), got[len(got)-1])
	}
	mid := int64(25 * (header + 9))
	if err := j.Trim(mid); err != nil {
		t.Fatal(err)
	}
	if _, next, err := j.Read(0, 10, 1<<20); !errors.Is(err, ErrGone) || next <= 0 || next > mid {
		t.Fatalf("read of a trimmed offset: next %d, %v", next, err)
	}
	if got, _ := readAll(t, j, mid); len(got) != 25 || got[0] != "record 25" {
		t.Fatalf("after trim: %q", got)
	}
	before := j.Segments()
	j.Trim(end)
	if j.Segments() != 1 || before == 1 {
		t.Fatalf("trim to the end left %d segments (had %d): the current one must stay, alone", j.Segments(), before)
	}
	j.Append(ctx, []byte("more"))
	if got, _ := readAll(t, j, end); len(got) != 1 || got[0] != "more" {
		t.Fatalf("append after trim: %q", got)
	}
}

// TestCorruptSegment: a damaged record in a full segment is reported and
// the reader goes on at the next segment.
func TestCorruptSegment(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{SegmentSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 10 {
		j.Append(ctx, fmt.Appendf(nil, "record %02d", i))
	}
	j.Close()
	f, _ := os.OpenFile(filepath.Join(dir, "0000000000000000.seg"), os.O_RDWR, 0)
	f.WriteAt([]byte{'X'}, header+int64(header+9)+2) // the second record's payload
	f.Close()
	j, err = Open(dir, Options{SegmentSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	recs, next, err := j.Read(0, 10, 1<<20)
	if !errors.Is(err, ErrCorrupt) || len(recs) != 1 || string(recs[0]) != "record 00" {
		t.Fatalf("read over a damaged record: %q %v", recs, err)
	}
	got, _ := readAll(t, j, next)
	if len(got) == 0 || got[len(got)-1] != "record 09" {
		t.Fatalf("after the damaged segment: %q", got)
	}
}

func TestConcurrentAppends(t *testing.T) {
	j, err := Open(t.TempDir(), Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if err := j.Append(context.Background(), fmt.Appendf(nil, "%d-%d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, _ := readAll(t, j, 0)
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r] {
			t.Fatalf("%s twice", r)
		}
		seen[r] = true
	}
	if len(seen) != 1600 {
		t.Fatalf("%d records read back, want 1600", len(seen))
	}
}

// TestFailedWriteSticks: after a write or flush fails, no later append
// is acknowledged.
func TestFailedWriteSticks(t *testing.T) {
	j, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	j.Append(ctx, []byte("fine"))
	j.f.Close() // the disk goes away under the writer
	if err := j.Append(ctx, []byte("lost")); err == nil {
		t.Fatal("an append to a closed file succeeded")
	}
	if err := j.Append(ctx, []byte("later")); err == nil {
		t.Fatal("an append after a failed write succeeded")
	}
	if err := j.Append(ctx, make([]byte, MaxRecord+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized record: %v", err)
	}
}

func BenchmarkAppend(b *testing.B) {
	j, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	rec := make([]byte, 200)
	b.SetParallelism(32)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := j.Append(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestMissingID: segments without their ID file are refused, not given a
// new ID (the store's offsets would not apply, and all would load again).
func TestMissingID(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	j.Append(context.Background(), []byte("one"))
	j.Close()
	os.Remove(filepath.Join(dir, "ID"))
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "ID is missing but the journal has 1 segments") {
		t.Fatalf("open without the ID: %v", err)
	}
}
