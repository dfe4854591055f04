package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/internal/csvsafe"
	"github.com/firstclaim/firstclaim/postback"
)

type attributeCmd struct {
	program    string
	programs   string
	asOf       string
	input      string
	clickhouse clickhouseFlag
	out        string
	progress   string
	cpuProfile string
	memProfile string
	networks   string
	pbTimeout  time.Duration
}

func (c *attributeCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.program, "program", "", "the program to attribute (a preset or one from --programs)")
	fs.StringVar(&c.programs, "programs", "", "programs `file` (JSON); the presets of docs/rules.md §6 are built in")
	fs.StringVar(&c.asOf, "as-of", "", "the `time` (RFC 3339) the lines are computed at; orders after it are not yet known (default: now)")
	fs.StringVar(&c.input, "input", "", "read the offline contract's files from this `folder` instead of ClickHouse, and print the lines")
	c.clickhouse.register(fs, "read from and write the commissions table to ClickHouse")
	fs.StringVar(&c.out, "out", "", "also write the lines to this `file`: .csv, or NDJSON otherwise")
	fs.StringVar(&c.networks, "networks", "", "affiliate networks `file` (JSON): send their postbacks for the lines (with --clickhouse)")
	fs.DurationVar(&c.pbTimeout, "postback-timeout", 2*time.Minute, "the most time postbacks may add to the run; lines not sent by then go next run")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this `file` (go tool pprof)")
	fs.StringVar(&c.memProfile, "memprofile", "", "write a heap profile at the end of the run to this `file`")
	fs.StringVar(&c.progress, "progress", "auto", "show progress on standard error: auto (on a terminal), always or never")
}

func (c *attributeCmd) run(ctx context.Context, env *environment) error {
	if c.program == "" {
		return errors.New("--program is required")
	}
	progs, err := loadPrograms(c.programs)
	if err != nil {
		return err
	}
	p, ok := progs[c.program]
	if !ok {
		return fmt.Errorf("--program %q: no such program (%s)", c.program, strings.Join(slices.Sorted(maps.Keys(progs)), ", "))
	}
	asOf := time.Now().UTC()
	if c.asOf != "" {
		if asOf, err = time.Parse(time.RFC3339Nano, c.asOf); err != nil {
			return fmt.Errorf("--as-of %q: want an RFC 3339 time such as 2026-11-24T00:00:00Z", c.asOf)
		}
		asOf = asOf.UTC()
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if c.memProfile != "" {
		defer func() {
			if f, err := os.Create(c.memProfile); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}()
	}
	prog := newProgress(env.stderr, c.progress)
	defer prog.done()
	var lines []attribution.Line
	switch {
	case c.input != "" && c.clickhouse.dsn != "":
		return errors.New("--input and --clickhouse exclude each other")
	case c.input != "" && c.networks != "":
		return errors.New("--networks needs --clickhouse: what was sent is recorded there")
	case c.input != "":
		prog.stage("reading " + c.input)
		if _, err := os.Stat(c.input); err != nil {
			return fmt.Errorf("cannot read input folder: %w", err)
		}
		in, err := attribution.ReadDir(os.DirFS(c.input))
		if err != nil {
			return fmt.Errorf("%s: %w", c.input, err)
		}
		prog.stage(fmt.Sprintf("attributing %d orders", len(in.Orders)))
		if lines, err = attribution.Compute(&p, in, asOf); err != nil {
			return err
		}
		if err := writeNDJSON(env.stdout, lines); err != nil {
			return err
		}
	case c.clickhouse.dsn != "":
		var nets []postback.Network
		if c.networks != "" {
			if nets, err = postback.LoadNetworks(c.networks); err != nil {
				return err
			}
		}
		if lines, err = attributeClickHouse(ctx, &c.clickhouse, &p, asOf, prog, env, nets, c.pbTimeout); err != nil {
			return err
		}
	default:
		return errors.New("--input DIR or --clickhouse DSN is required")
	}
	if c.out != "" {
		if err := writeLinesFile(c.out, lines); err != nil {
			return err
		}
	}
	env.log.Debug("attribution done", "program", p.Name, "as_of", asOf, "lines", len(lines))
	return nil
}

func writeNDJSON(w io.Writer, lines []attribution.Line) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	for i := range lines {
		b, err := json.Marshal(lines[i])
		if err != nil {
			return err
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func writeLinesFile(path string, lines []attribution.Line) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot write --out: %w", err)
	}
	if strings.HasSuffix(path, ".csv") {
		cw := csvsafe.NewWriter(f)
		cw.Write(attribution.CSVHeader())
		for i := range lines {
			cw.Write(lines[i].CSVRecord())
		}
		cw.Flush()
		err = cw.Error()
	} else {
		err = writeNDJSON(f, lines)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// progress shows what a long run is doing, in place on a terminal.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time
	last  int
}

func newProgress(w io.Writer, mode string) *progress {
	on := mode == "always"
	if mode == "auto" {
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				on = true
			}
		}
	}
	return &progress{w: w, on: on, start: time.Now()}
}

func (p *progress) stage(msg string) {
	if !p.on {
		return
	}
	text := fmt.Sprintf("[%6.1fs] %s", time.Since(p.start).Seconds(), msg)
	pad := ""
	if n := p.last - len(text); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", text, pad)
	p.last = len(text)
}

func (p *progress) done() {
	if p.on && p.last > 0 {
		p.stage("done")
		fmt.Fprintln(p.w)
	}
}
