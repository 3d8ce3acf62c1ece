package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTime returns the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is the kernel's USER_HZ, 100 on every Linux platform Go
// supports.
const clockTick = 100

// procCPU returns the CPU time process pid has used, from
// /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server cpu: %w", err)
	}
	return parseStatCPU(b)
}

// parseStatCPU takes utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14.
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat line %q", b)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad stat times in %q", b)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// procRSS returns the resident set size of pid in bytes, from the VmRSS
// line of /proc/PID/status.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("server rss: %w", err)
	}
	return parseVmRSS(b)
}

// parseVmRSS reads "VmRSS:   1234 kB" from a status file.
func parseVmRSS(b []byte) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", line, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS line (is it a kernel thread?)")
}

// load1 returns the one-minute load average, or -1.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// toolCores is how many cores the tool may use: its GOMAXPROCS, which
// the runtime bounds by the CPU affinity mask (taskset).
func toolCores() int { return min(runtime.GOMAXPROCS(0), runtime.NumCPU()) }

// meter measures the CPU the tool and, given a pid, the server use over
// an interval.
type meter struct {
	pid       int
	start     time.Time
	tool, srv time.Duration
	srvErr    error
}

func startMeter(pid int) *meter {
	m := &meter{pid: pid, start: time.Now(), tool: cpuTime()}
	if pid > 0 {
		m.srv, m.srvErr = procCPU(pid)
	}
	return m
}

// stop fills r's CPU fields and warns when the tool was near its cores'
// capacity, which means the numbers may measure the tool.
func (m *meter) stop(r *Result) {
	r.metered = true
	wall := time.Since(m.start).Seconds()
	if wall <= 0 {
		wall = 1e-9
	}
	r.ToolCPU = (cpuTime() - m.tool).Seconds() / wall
	r.ServerCPU = -1
	if m.pid > 0 && m.srvErr == nil {
		if s, err := procCPU(m.pid); err == nil {
			r.ServerCPU = (s - m.srv).Seconds() / wall
		}
	}
	r.Load1 = load1()
	if cores := toolCores(); r.ToolCPU >= 0.8*float64(cores) {
		r.Warnings = append(r.Warnings, fmt.Sprintf(
			"the tool used %.2f of its %d core(s): it, not the server, may be the bottleneck", r.ToolCPU, cores))
	}
}
