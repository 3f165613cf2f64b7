package journal

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/waymark-mail/waymark/internal/groupcommit"
)

// Errors of a journal.
var (
	// ErrLocked: another process has the journal open.
	ErrLocked = errors.New("journal: in use by another process")
	// ErrCorrupt: a record's checksum or length is wrong (a damaged disk,
	// or a file changed by hand). Read skips to the next segment.
	ErrCorrupt = errors.New("journal: corrupt record")
	// ErrGone: the offset asked for was trimmed away already.
	ErrGone = errors.New("journal: offset trimmed away")
	// ErrTooLarge: a record over MaxRecord bytes.
	ErrTooLarge = errors.New("journal: record too large")
	// ErrEmpty: an empty record (a length of 0 marks zeroes a crash
	// left at the end of a file, never a record).
	ErrEmpty = errors.New("journal: empty record")
)

// MaxRecord bounds one record's payload.
const MaxRecord = 1 << 20

// header is a frame's length and CRC-32C.
const header = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tunes a journal; the zero value is fine.
type Options struct {
	// SegmentSize is the size of a segment file: appends that would pass
	// it go to a new one (default 16 MiB).
	SegmentSize int64
	// MaxBatch bounds the records of one write and flush (default 4096).
	MaxBatch int
	// Delay holds a flush open under load so that more records join it
	// (groupcommit.Options.Delay; 0: none).
	Delay time.Duration
	// Observe, if set, is told the record count of each flush.
	Observe func(records int)
	Log     *slog.Logger
}

// Journal is an open journal directory. Append is safe for concurrent use;
// Read, Trim and End may be called by one reader beside the appenders.
type Journal struct {
	dir, id string
	o       Options
	lock    *os.File
	commits *groupcommit.Committer[[]byte]
	stop    context.CancelFunc

	// The writer's state, owned by the committer's goroutine.
	f       *os.File
	fd      int
	segSize int64
	buf     []byte
	failed  error

	spareWG sync.WaitGroup // the next segment file being made

	mu   sync.Mutex // guards segs
	segs []int64    // start offsets of the segment files, ascending

	end    atomic.Int64 // the durable end: every byte before it is flushed
	opened int64        // the end when the journal was opened
	closed atomic.Bool
	wake   chan struct{}
}

// Open opens (or makes) the journal in dir and cuts off a torn record at
// its end.
func Open(dir string, o Options) (*Journal, error) {
	if o.SegmentSize <= 0 {
		o.SegmentSize = 16 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	j := &Journal{dir: dir, o: o, lock: lock, wake: make(chan struct{}, 1)}
	if err := j.open(); err != nil {
		lock.Close()
		return nil, err
	}
	j.opened = j.end.Load()
	// A new journal's spare is made before Open returns: nothing is left
	// writing in the directory if the caller gives up at once (a start
	// that fails removes the data directory it made).
	j.spareWG.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	j.stop = cancel
	j.commits = groupcommit.New(ctx, j.commit, groupcommit.Options[[]byte]{MaxItems: o.MaxBatch, Queue: 8192,
		Delay: o.Delay, Observe: o.Observe, Log: o.Log})
	return j, nil
}

func (j *Journal) open() error {
	names, err := filepath.Glob(filepath.Join(j.dir, "*.seg"))
	if err != nil {
		return err
	}
	for _, n := range names {
		start, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(n), ".seg"), 16, 64)
		if err != nil {
			return fmt.Errorf("%s: not a segment of the journal: %w", n, err)
		}
		j.segs = append(j.segs, start)
	}
	id, err := os.ReadFile(filepath.Join(j.dir, "ID"))
	switch {
	case errors.Is(err, os.ErrNotExist) && len(j.segs) > 0:
		// The store's offsets are kept under the ID: without it, what
		// was loaded already cannot be told from what was not.
		return fmt.Errorf("%s is missing but the journal has %d segments: restore the ID file from where it was, or, if every event in them is in the store, remove the segments", filepath.Join(j.dir, "ID"), len(j.segs))
	case errors.Is(err, os.ErrNotExist):
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = []byte(hex.EncodeToString(b))
		if err := writeSynced(j.dir, "ID", id); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	j.id = strings.TrimSpace(string(id))
	if j.id == "" {
		return fmt.Errorf("%s: empty ID file: restore it from where it was", filepath.Join(j.dir, "ID"))
	}
	slices.Sort(j.segs)
	if len(j.segs) == 0 {
		return j.newSegment(0)
	}
	last := j.segs[len(j.segs)-1]
	f, err := os.OpenFile(j.segPath(last), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	good, err := scan(f)
	if err != nil {
		f.Close()
		return err
	}
	clean, err := zeroAfter(f, good)
	if err != nil {
		f.Close()
		return err
	}
	j.f, j.fd, j.segSize = f, int(f.Fd()), good
	j.end.Store(last + good)
	if !clean {
		// A record that does not check out, and bytes after it: a write
		// a crash cut short (never acknowledged), or a damaged disk (then
		// what follows may have been acknowledged). Nothing is erased:
		// appends go on in a new segment from here, and the bytes stay
		// in this one, unread, for whoever looks into it.
		j.o.Log.Error("journal: a torn or damaged record; the bytes after it stay in its segment, unread, and appends go on in a new one",
			"segment", j.segPath(last), "at", good)
		return j.newSegment(last + good)
	}
	return nil
}

// zeroAfter reports whether everything in f after offset good is zeroes
// (the end of a segment made whole before use).
func zeroAfter(f *os.File, good int64) (bool, error) {
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	buf := make([]byte, 64<<10)
	zero := make([]byte, len(buf))
	for off := good; off < st.Size(); off += int64(len(buf)) {
		n, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return false, err
		}
		if !bytes.Equal(buf[:n], zero[:n]) {
			return false, nil
		}
	}
	return true, nil
}

// scan returns the length of the whole records at the start of f.
func scan(f *os.File) (int64, error) {
	r := bufio.NewReaderSize(f, 1<<20)
	var good int64
	var hdr [header]byte
	var payload []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return good, nil
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n == 0 || n > MaxRecord {
			return good, nil
		}
		payload = slices.Grow(payload[:0], int(n))[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return good, nil
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return good, nil
		}
		good += header + int64(n)
	}
}

func (j *Journal) segPath(start int64) string {
	return filepath.Join(j.dir, fmt.Sprintf("%016x.seg", start))
}

// Segment files are made whole before they are used: SegmentSize bytes
// of zeroes, flushed, so that an append changes no file size and its
// fdatasync flushes only the data (PostgreSQL zero-fills its WAL segments
// for the same reason; measured on this project's machine, a flush of an
// append to a zero-filled file took about 160 µs, to a growing one 250 to
// 330 µs). The next segment is made in the background as the current one
// starts (spareName), so a rotation is a rename.
const spareName = "spare"

// makeSpare writes a zero-filled segment file as spareName, unless there
// is one.
func (j *Journal) makeSpare() error {
	spare := filepath.Join(j.dir, spareName)
	if st, err := os.Stat(spare); err == nil && st.Size() == j.o.SegmentSize {
		return nil
	}
	tmp := spare + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	zero := make([]byte, min(j.o.SegmentSize, 1<<20))
	for n := int64(0); n < j.o.SegmentSize; n += int64(len(zero)) {
		if _, err := f.Write(zero[:min(int64(len(zero)), j.o.SegmentSize-n)]); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, spare); err != nil {
		return err
	}
	return syncDir(j.dir)
}

// newSegment makes the spare the segment starting at start (making one
// first if the background has not) and appends to it from now on; the
// directory is flushed so the name survives a crash. The next spare is
// made in the background.
func (j *Journal) newSegment(start int64) error {
	j.spareWG.Wait()
	if err := j.makeSpare(); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(j.dir, spareName), j.segPath(start)); err != nil {
		return err
	}
	if err := syncDir(j.dir); err != nil {
		return err
	}
	f, err := os.OpenFile(j.segPath(start), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.fd, j.segSize = f, int(f.Fd()), 0
	j.mu.Lock()
	if !slices.Contains(j.segs, start) {
		j.segs = append(j.segs, start)
	}
	j.mu.Unlock()
	j.end.Store(start)
	j.spareWG.Add(1)
	go func() {
		defer j.spareWG.Done()
		if err := j.makeSpare(); err != nil {
			j.o.Log.Warn("journal: making the next segment", "err", err)
		}
	}()
	return nil
}

// Renew gives the journal a new ID, for a loader whose store has loaded
// the old one further than its segments reach (they were lost): offsets
// under the new ID start afresh in the store.
func (j *Journal) Renew() error {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	if err := writeSynced(j.dir, "ID", []byte(id)); err != nil {
		return err
	}
	j.id = id
	return nil
}

// OpenedEnd is where the journal ended when it was opened: what lies
// before it was written by an earlier run.
func (j *Journal) OpenedEnd() int64 { return j.opened }

// ID names the journal: a loader's offsets are kept under it.
func (j *Journal) ID() string { return j.id }

// Dir is the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// End is the durable end: every record before it is on disk.
func (j *Journal) End() int64 { return j.end.Load() }

// Wake is signalled after each flush (a reader waits on it for more).
func (j *Journal) Wake() <-chan struct{} { return j.wake }

// Append writes records and returns once they are on disk, or the error
// that kept them from it. An error of the disk is kept: every later
// Append fails with it too (after a failed fsync the file's state is
// unknown), until the journal is opened again.
func (j *Journal) Append(ctx context.Context, records ...[]byte) error {
	for _, r := range records {
		if len(r) > MaxRecord {
			return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(r))
		}
		if len(r) == 0 {
			return ErrEmpty
		}
	}
	if j.closed.Load() {
		return errors.New("journal: closed")
	}
	return j.commits.Commit(ctx, records)
}

// commit writes one group with one write and one fdatasync.
func (j *Journal) commit(_ context.Context, records [][]byte) error {
	if j.failed != nil {
		return j.failed
	}
	buf := j.buf[:0]
	for _, r := range records {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(r)))
		buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(r, castagnoli))
		buf = append(buf, r...)
	}
	if cap(buf) <= 4<<20 {
		j.buf = buf
	}
	if j.segSize > 0 && j.segSize+int64(len(buf)) > j.o.SegmentSize {
		if err := j.newSegment(j.end.Load()); err != nil {
			j.failed = fmt.Errorf("journal: starting a segment: %w", err)
			return j.failed
		}
	}
	if _, err := j.f.WriteAt(buf, j.segSize); err != nil {
		j.failed = fmt.Errorf("journal: writing: %w", err)
		return j.failed
	}
	if err := unix.Fdatasync(j.fd); err != nil {
		j.failed = fmt.Errorf("journal: fdatasync: %w", err)
		return j.failed
	}
	j.segSize += int64(len(buf))
	j.end.Add(int64(len(buf)))
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return nil
}

// Read returns up to max records (and about maxBytes) from offset from,
// and the offset after the last one. It reads one segment at a time. At
// a damaged record it returns what came before it with ErrCorrupt, and
// next is the start of the following segment; before the first segment
// kept it returns ErrGone, and next is that segment's start.
func (j *Journal) Read(from int64, max, maxBytes int) (records [][]byte, next int64, err error) {
	end := j.end.Load()
	if from >= end {
		return nil, from, nil
	}
	j.mu.Lock()
	segs := slices.Clone(j.segs)
	j.mu.Unlock()
	i, found := slices.BinarySearch(segs, from)
	if !found {
		i--
	}
	if i < 0 {
		return nil, segs[0], fmt.Errorf("offset %d: %w", from, ErrGone)
	}
	start, stop := segs[i], end
	if i+1 < len(segs) {
		stop = segs[i+1]
	}
	f, err := os.Open(j.segPath(start))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, stop, fmt.Errorf("segment %s: %w", j.segPath(start), ErrGone)
		}
		return nil, from, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(io.NewSectionReader(f, from-start, stop-from), 256<<10)
	next = from
	bytes := 0
	var hdr [header]byte
	for len(records) < max && bytes < maxBytes && next < stop {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return records, stop, fmt.Errorf("%s at %d: %w (%v)", j.segPath(start), next, ErrCorrupt, err)
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n == 0 || n > MaxRecord || next+header+int64(n) > stop {
			return records, stop, fmt.Errorf("%s at %d: %w (length %d)", j.segPath(start), next, ErrCorrupt, n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return records, stop, fmt.Errorf("%s at %d: %w (%v)", j.segPath(start), next, ErrCorrupt, err)
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return records, stop, fmt.Errorf("%s at %d: %w (checksum)", j.segPath(start), next, ErrCorrupt)
		}
		records = append(records, payload)
		next += header + int64(n)
		bytes += int(n)
	}
	return records, next, nil
}

// Trim removes the segments wholly before offset upTo (loaded already).
// The segment being appended to stays.
func (j *Journal) Trim(upTo int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	kept := j.segs[:0]
	var err error
	for i, start := range j.segs {
		if i+1 < len(j.segs) && j.segs[i+1] <= upTo && err == nil {
			if e := os.Remove(j.segPath(start)); e != nil && !errors.Is(e, os.ErrNotExist) {
				err = e
				kept = append(kept, start)
			}
			continue
		}
		kept = append(kept, start)
	}
	j.segs = kept
	return err
}

// Segments is how many segment files the journal has.
func (j *Journal) Segments() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.segs)
}

// Close stops appends (those waiting fail) and closes the files.
func (j *Journal) Close() error {
	if j.closed.Swap(true) {
		return nil
	}
	j.stop()
	<-j.commits.Done() // the flush in flight ends first
	j.spareWG.Wait()
	err := j.f.Close()
	if e := j.lock.Close(); err == nil {
		err = e
	}
	return err
}

// writeSynced writes name in dir through a temporary file, flushed, then
// renamed, and flushes the directory.
func writeSynced(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
