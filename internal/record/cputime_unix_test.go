//go:build unix

package record

import "syscall"

// processCPU returns the CPU time, in nanoseconds, the process has used,
// user and system, on all threads (so garbage collection counts too).
func processCPU() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
