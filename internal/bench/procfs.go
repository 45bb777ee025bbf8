package bench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Machine describes where a run ran.
type Machine struct {
	CPUs     int
	CPUModel string
	MemoryMB int
	Go       string
	OS       string
	Kernel   string
}

// ReadMachine reads the machine's description from /proc.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.Atoi(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0]); err == nil {
		m.MemoryMB = kb / 1024
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), %d MB memory, %s, Linux %s, %s", m.CPUs, m.CPUModel, m.MemoryMB, m.OS, m.Kernel, m.Go)
}

// procField returns the value of the first "name: value" line of a /proc
// file, or "".
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// rssMB is a process's resident set (VmRSS), or its peak (VmHWM), in MB.
func rssMB(pid int, field string) float64 {
	kb, _ := strconv.ParseFloat(strings.TrimSuffix(procField(fmt.Sprintf("/proc/%d/status", pid), field), " kB"), 64)
	return kb / 1024
}

// cpuTime is the CPU time (user + system) a process has used so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) in parentheses;
	// utime and stime are the 14th and 15th fields of the line.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks
}

// pidListening returns the process listening on TCP port on this machine,
// found through its socket's inode, or 0. The stack's services are started
// by internal/localstack, which does not say their pids; their ports it does.
func pidListening(port int) int {
	inode := listenInode(port)
	if inode == "" {
		return 0
	}
	want := "socket:[" + inode + "]"
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		fds, _ := filepath.Glob(p + "/fd/*")
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && l == want {
				pid, _ := strconv.Atoi(filepath.Base(p))
				return pid
			}
		}
	}
	return 0
}

// listenInode finds the inode of the socket listening on port.
func listenInode(port int) string {
	hexPort := fmt.Sprintf(":%04X", port)
	for _, path := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			// local_address rem_address st ... inode: st 0A is LISTEN.
			if len(fs) > 9 && strings.HasSuffix(fs[1], hexPort) && fs[3] == "0A" {
				f.Close()
				return fs[9]
			}
		}
		f.Close()
	}
	return ""
}

// childPids lists a process's children.
func childPids(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// sampler records the peak RSS of some processes, sampled every interval,
// and their CPU time between start and stop.
type sampler struct {
	pids  map[string]int
	cpu0  map[string]time.Duration
	start time.Time

	mu   sync.Mutex
	peak map[string]float64
	stop chan struct{}
	done chan struct{}
}

func startSampler(pids map[string]int, interval time.Duration) *sampler {
	s := &sampler{pids: pids, cpu0: map[string]time.Duration{}, peak: map[string]float64{},
		stop: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	for name, pid := range pids {
		s.cpu0[name] = cpuTime(pid)
	}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, pid := range s.pids {
		s.peak[name] = max(s.peak[name], rssMB(pid, "VmRSS"))
	}
}

// usage is what a sampler saw of one process.
type usage struct {
	Cores  float64 // CPU time over wall time
	PeakMB float64
}

// Stop ends sampling and returns each process's usage.
func (s *sampler) Stop() map[string]usage {
	s.sample()
	close(s.stop)
	<-s.done
	wall := time.Since(s.start)
	out := map[string]usage{}
	for name, pid := range s.pids {
		out[name] = usage{Cores: float64(cpuTime(pid)-s.cpu0[name]) / float64(wall), PeakMB: s.peak[name]}
	}
	return out
}
