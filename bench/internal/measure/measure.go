// Package measure holds what the benchmark programs read and summarise: a process's CPU time
// and the median of a run's rounds.
package measure

import (
	"os"
	"slices"
	"strconv"
	"strings"
)

// ProcCPU is the CPU seconds a process has used so far (user and system, all its threads), from
// /proc; 0 when it cannot be read.
func ProcCPU(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// Median is the middle of xs (the upper of the two middles for an even count); 0 for none.
func Median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
