// Command firstclaim is the edge redirector for referral and affiliate links, and the tools
// around it. Run "firstclaim help" for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand: it declares its flags, then runs with them parsed.
type command interface {
	flags(fs *flag.FlagSet)
	run(ctx context.Context, env *environment) error
}

// environment is what a command gets from the process: streams and the logger.
type environment struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	log            *slog.Logger
}

type commandInfo struct {
	summary string
	new     func() command
}

var commands = map[string]commandInfo{
	"serve":     {"run the redirector (public and admin listeners)", func() command { return &serveCmd{} }},
	"migrate":   {"create or upgrade the ClickHouse database and tables", func() command { return &migrateCmd{} }},
	"export":    {"a network's monthly statement: commissionable amount and leads per partner, as CSV", func() command { return &exportCmd{} }},
	"report":    {"clicks, claims, sign-ups, orders and commission by any dimension, from ClickHouse", func() command { return &reportCmd{} }},
	"prune":     {"delete events older than an age from ClickHouse (partitions, then rows; TTL where supported)", func() command { return &pruneCmd{} }},
	"import":    {"load accounts, partners, orders or associations from CSV or NDJSON into ClickHouse", func() command { return &importCmd{} }},
	"links":     {"links [flags] import FILE: load a links file into ClickHouse; links [flags] export: write them out", func() command { return &linksCmd{} }},
	"attribute": {"compute commission lines for a program (from ClickHouse or a folder of files)", func() command { return &attributeCmd{} }},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &environment{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv}
	os.Exit(run(ctx, os.Args[1:], env))
}

func run(ctx context.Context, args []string, env *environment) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(env.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	info, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "firstclaim: unknown command %q\n\n", args[0])
		usage(env.stderr)
		return 2
	}
	cmd := info.new()
	fs := flag.NewFlagSet("firstclaim "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	cmd.flags(fs)
	withArgs, takesArgs := cmd.(interface{ setArgs([]string) })
	if err := parseConfig(fs, args[1:], env.getenv, takesArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(env.stderr, "firstclaim %s: %v\n", args[0], err)
		return 2
	}
	if takesArgs {
		withArgs.setArgs(fs.Args())
	}
	logger, err := newLogger(env.stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(env.stderr, "firstclaim %s: %v\n", args[0], err)
		return 2
	}
	env.log = logger
	if err := cmd.run(ctx, env); err != nil {
		fmt.Fprintf(env.stderr, "firstclaim %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: firstclaim COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every flag can also be set in a config file (--config, lines of name = value)")
	fmt.Fprintln(w, "or in the environment as FIRSTCLAIM_NAME (--admin-listen: FIRSTCLAIM_ADMIN_LISTEN);")
	fmt.Fprintln(w, "flags win over the environment, which wins over the file.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "firstclaim COMMAND -h lists a command's flags.")
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
