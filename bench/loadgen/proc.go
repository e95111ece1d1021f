package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the tick counts in /proc (USER_HZ, 100 on Linux
// for every mainstream architecture).
const userHZ = 100

// procCPU returns the user+system CPU seconds of process pid, all threads.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("loadgen: server cpu: %w", err)
	}
	return parseProcStat(b)
}

// parseProcStat reads utime and stime (fields 14 and 15) from the contents
// of /proc/PID/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseProcStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("loadgen: /proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("loadgen: /proc stat: %d fields", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("loadgen: /proc stat: %w", err)
	}
	return float64(ut+st) / userHZ, nil
}

// procRSS returns the resident set size of process pid in MiB.
func procRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("loadgen: server rss: %w", err)
	}
	return parseVmRSS(b)
}

func parseVmRSS(b []byte) (float64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("loadgen: VmRSS line %q", line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("loadgen: VmRSS: %w", err)
		}
		return float64(kb) / 1024, nil
	}
	return 0, errors.New("loadgen: no VmRSS in status")
}

// cpuOf is procCPU of each pid (0 for one that cannot be read).
func cpuOf(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		out[i], _ = procCPU(pid)
	}
	return out
}

// rssOf is procRSS of each pid (0 for one that cannot be read).
func rssOf(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		out[i], _ = procRSS(pid)
	}
	return out
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// cpuTimes is the machine-wide CPU time from the first line of /proc/stat,
// in seconds.
type cpuTimes struct {
	busy    float64 // user + nice + system + steal
	softirq float64 // irq + softirq
}

func readCPUTimes() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, fmt.Errorf("loadgen: %w", err)
	}
	return parseCPUTimes(b)
}

func parseCPUTimes(b []byte) (cpuTimes, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("loadgen: /proc/stat first line %q", line)
	}
	v := make([]float64, 8)
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("loadgen: /proc/stat: %w", err)
		}
		v[i] = float64(n) / userHZ
	}
	// user nice system idle iowait irq softirq steal
	return cpuTimes{busy: v[0] + v[1] + v[2] + v[7], softirq: v[5] + v[6]}, nil
}

// selfCPU is this process's user+system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// boxMeter measures how much CPU other processes used between start and
// stop.
type boxMeter struct {
	pids      []int // the server's processes
	threshold float64
	t0        time.Time
	cpu0      cpuTimes
	self0     float64
	server0   float64
}

func startBoxMeter(pids []int, threshold float64) *boxMeter {
	m := &boxMeter{pids: pids, threshold: threshold, t0: time.Now(), self0: selfCPU()}
	m.cpu0, _ = readCPUTimes()
	m.server0 = sum(cpuOf(pids))
	return m
}

func (m *boxMeter) stop() BoxLoad {
	wall := time.Since(m.t0).Seconds()
	cpu1, _ := readCPUTimes()
	self := selfCPU() - m.self0
	server := sum(cpuOf(m.pids)) - m.server0
	other := cpu1.busy - m.cpu0.busy - self - server
	if other < 0 {
		other = 0 // tick rounding
	}
	b := BoxLoad{
		WallSeconds:  wall,
		OtherCores:   other / wall,
		SoftIRQCores: (cpu1.softirq - m.cpu0.softirq) / wall,
		LoadGenCPU:   self,
		ServerCPU:    server,
		Threshold:    m.threshold,
	}
	b.Busy = b.OtherCores > m.threshold
	return b
}

// WaitQuiet samples the machine in windows of the given length until other
// processes use at most threshold cores, or ctx ends. It returns the last
// measurement.
func WaitQuiet(ctx context.Context, threshold float64, window time.Duration) (float64, error) {
	for {
		m := startBoxMeter(nil, threshold)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("loadgen: box not quiet: %w", ctx.Err())
		case <-time.After(window):
		}
		b := m.stop()
		if !b.Busy {
			return b.OtherCores, nil
		}
		if ctx.Err() != nil {
			return b.OtherCores, fmt.Errorf("loadgen: box busy (%.2f cores used by others): %w", b.OtherCores, ctx.Err())
		}
	}
}

// CheckListener verifies that process pid holds the listening TCP socket
// of port, so that the figures measured belong to the server under test
// and not to another process that happens to listen there.
func CheckListener(pid, port int) error {
	var inodes []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		inodes = append(inodes, listenInodes(b, port)...)
	}
	if len(inodes) == 0 {
		return fmt.Errorf("loadgen: nothing listens on port %d", port)
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("loadgen: server process %d: %w", pid, err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(dir + "/" + fd.Name())
		if err != nil {
			continue
		}
		for _, ino := range inodes {
			if link == "socket:["+ino+"]" {
				return nil
			}
		}
	}
	return fmt.Errorf("loadgen: port %d is not served by process %d (another process listens there?)", port, pid)
}

// listenInodes returns the socket inodes in LISTEN state on port from the
// contents of /proc/net/tcp or tcp6.
func listenInodes(b []byte, port int) []string {
	var out []string
	suffix := fmt.Sprintf(":%04X", port)
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 10 {
			continue
		}
		if strings.HasSuffix(f[1], suffix) && f[3] == "0A" {
			out = append(out, f[9])
		}
	}
	return out
}
