//go:build !unix

package record

func processCPU() (int64, bool) { return 0, false }
