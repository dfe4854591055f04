package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// parseConfig fills fs in order of precedence: defaults (already in fs), then the config file,
// then FIRSTCLAIM_* environment variables, then the command line. The config file comes from
// --config or FIRSTCLAIM_CONFIG and holds "name = value" lines named like the flags ('#' starts a
// comment). getenv is os.Getenv in production.
// acceptsArgs lets arguments follow the flags (import's TABLE FILE); otherwise one is an error.
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) string, acceptsArgs bool) error {
	var configPath string
	if fs.Lookup("config") == nil {
		fs.StringVar(&configPath, "config", "", "config file of `name = value` lines (env FIRSTCLAIM_CONFIG)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 && !acceptsArgs {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if configPath == "" {
		configPath = getenv("FIRSTCLAIM_CONFIG")
	}
	file := map[string]string{}
	if configPath != "" {
		var err error
		if file, err = readConfigFile(configPath); err != nil {
			return err
		}
		for name := range file {
			if fs.Lookup(name) == nil {
				return fmt.Errorf("%s: unknown setting %q for this command", configPath, name)
			}
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || explicit[f.Name] || f.Name == "config" {
			return
		}
		env := "FIRSTCLAIM_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %s: %w", configPath, f.Name, e)
			}
		}
	})
	return err
}

func readConfigFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	defer f.Close()
	return parseConfigLines(path, f)
}

func parseConfigLines(path string, r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want name = value", path, line)
		}
		name = strings.TrimSpace(name)
		value = strings.TrimSpace(value)
		if len(value) >= 2 && (value[0] == '"' && value[len(value)-1] == '"' || value[0] == '\'' && value[len(value)-1] == '\'') {
			value = value[1 : len(value)-1]
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: %q is set twice", path, line, name)
		}
		out[name] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// errUsage is returned when the user asked for help.
var errUsage = errors.New("usage")
