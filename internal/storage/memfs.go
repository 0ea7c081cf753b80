package storage

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// MemFS is an in-memory FS that models what a power failure keeps: file
// contents survive only up to their last Sync, and directory entries
// (creations, renames, removals) only once their directory was synced.
// Crash discards everything else, so tests can check that the storage
// layer syncs what it acknowledges and recovers from what it loses.
type MemFS struct {
	mu sync.Mutex
	// live is what a running process sees; durable is what survives a
	// crash: name -> node as of the last SyncDir of its directory.
	live    map[string]*memNode
	durable map[string]*memNode
	dirs    map[string]bool
}

type memNode struct {
	data    []byte // what reads see
	synced  []byte // contents as of the last Sync
	modTime time.Time
}

// NewMemFS returns an empty in-memory filesystem.
func NewMemFS() *MemFS {
	return &MemFS{live: map[string]*memNode{}, durable: map[string]*memNode{}, dirs: map[string]bool{"/": true, ".": true}}
}

// Crash simulates a power failure: it returns a new filesystem holding
// only what survives it (synced data and directory entries). The old one
// keeps working for whoever still holds it, like the writes of a process
// that died, but nothing written to it reaches the new one.
func (m *MemFS) Crash() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := NewMemFS()
	for name, n := range m.durable {
		node := &memNode{data: slices.Clone(n.synced), synced: slices.Clone(n.synced), modTime: n.modTime}
		c.live[name], c.durable[name] = node, node
	}
	for d := range m.dirs {
		c.dirs[d] = true
	}
	return c
}

func clean(name string) string { return path.Clean(name) }

func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[path.Dir(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	n, ok := m.live[name]
	switch {
	case !ok && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case !ok:
		n = &memNode{modTime: time.Now()}
		m.live[name] = n
	}
	if flag&os.O_TRUNC != 0 {
		n.data = nil
	}
	return &memFile{fs: m, node: n, name: name, append: flag&os.O_APPEND != 0}, nil
}

func (m *MemFS) Remove(name string) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.live[name]; ok {
		delete(m.live, name)
		return nil
	}
	if m.dirs[name] {
		for n := range m.live {
			if strings.HasPrefix(n, name+"/") {
				return &fs.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
			}
		}
		delete(m.dirs, name)
		return nil
	}
	return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
}

func (m *MemFS) RemoveAll(p string) error {
	p = clean(p)
	m.mu.Lock()
	defer m.mu.Unlock()
	for n := range m.live {
		if n == p || strings.HasPrefix(n, p+"/") {
			delete(m.live, n)
		}
	}
	for d := range m.dirs {
		if d == p || strings.HasPrefix(d, p+"/") {
			delete(m.dirs, d)
		}
	}
	return nil
}

func (m *MemFS) Rename(oldpath, newpath string) error {
	oldpath, newpath = clean(oldpath), clean(newpath)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.live[oldpath]; ok {
		if !m.dirs[path.Dir(newpath)] {
			return &fs.PathError{Op: "rename", Path: newpath, Err: fs.ErrNotExist}
		}
		delete(m.live, oldpath)
		m.live[newpath] = n
		return nil
	}
	if !m.dirs[oldpath] {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: fs.ErrNotExist}
	}
	// A directory rename moves everything below it, durably only once
	// the parent directory is synced; a directory's own entries stay
	// durable with it.
	for d := range m.dirs {
		if d == oldpath || strings.HasPrefix(d, oldpath+"/") {
			delete(m.dirs, d)
			m.dirs[newpath+strings.TrimPrefix(d, oldpath)] = true
		}
	}
	for n, node := range m.live {
		if strings.HasPrefix(n, oldpath+"/") {
			delete(m.live, n)
			m.live[newpath+strings.TrimPrefix(n, oldpath)] = node
		}
	}
	for n, node := range m.durable {
		if strings.HasPrefix(n, oldpath+"/") {
			delete(m.durable, n)
			m.durable[newpath+strings.TrimPrefix(n, oldpath)] = node
		}
	}
	return nil
}

// MkdirAll creates directories. Directories themselves are treated as
// durable at once; the files in them are not.
func (m *MemFS) MkdirAll(p string, perm os.FileMode) error {
	p = clean(p)
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := p; ; d = path.Dir(d) {
		m.dirs[d] = true
		if d == "/" || d == "." {
			return nil
		}
	}
}

func (m *MemFS) ReadDir(name string) ([]os.DirEntry, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.dirs[name] {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []os.DirEntry
	for n, node := range m.live {
		if path.Dir(n) == name {
			out = append(out, memInfo{name: path.Base(n), size: int64(len(node.data)), mod: node.modTime})
		}
	}
	for d := range m.dirs {
		if d != name && path.Dir(d) == name {
			out = append(out, memInfo{name: path.Base(d), dir: true})
		}
	}
	slices.SortFunc(out, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.live[name]; ok {
		return memInfo{name: path.Base(name), size: int64(len(n.data)), mod: n.modTime}, nil
	}
	if m.dirs[name] {
		return memInfo{name: path.Base(name), dir: true}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

func (m *MemFS) SyncDir(name string) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for n := range m.durable {
		if path.Dir(n) == name {
			if _, ok := m.live[n]; !ok {
				delete(m.durable, n)
			}
		}
	}
	for n, node := range m.live {
		if path.Dir(n) == name {
			m.durable[n] = node
		}
	}
	return nil
}

type memFile struct {
	fs     *MemFS
	node   *memNode
	name   string
	append bool
	closed bool
}

var errClosed = errors.New("file already closed")

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	off := int64(len(f.node.data))
	f.fs.mu.Unlock()
	return f.WriteAt(p, off)
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	if f.append {
		off = int64(len(f.node.data))
	}
	if end := off + int64(len(p)); end > int64(len(f.node.data)) {
		f.node.data = append(f.node.data, make([]byte, end-int64(len(f.node.data)))...)
	}
	copy(f.node.data[off:], p)
	f.node.modTime = time.Now()
	return len(p), nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errClosed
	}
	if size < int64(len(f.node.data)) {
		f.node.data = f.node.data[:size:size]
	} else {
		f.node.data = append(f.node.data, make([]byte, size-int64(len(f.node.data)))...)
	}
	return nil
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.node.synced = slices.Clone(f.node.data)
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.closed = true
	return nil
}

func (f *memFile) Stat() (os.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return memInfo{name: path.Base(f.name), size: int64(len(f.node.data)), mod: f.node.modTime}, nil
}

func (f *memFile) Name() string { return f.name }

type memInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time         { return i.mod }
func (i memInfo) IsDir() bool                { return i.dir }
func (i memInfo) Sys() any                   { return nil }
func (i memInfo) Type() fs.FileMode          { return i.Mode().Type() }
func (i memInfo) Info() (fs.FileInfo, error) { return i, nil }
