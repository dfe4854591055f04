// Command play sends the demo's sample visits to a redirector (see package demo).
//
//	play -url http://127.0.0.1:8080 -visitors 300
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/firstclaim/firstclaim/internal/demo"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "the redirector's public address")
	visitors := flag.Int("visitors", 300, "how many sample visitors")
	seed := flag.Uint64("seed", 1, "seed of the visits")
	flag.Parse()
	sum, err := demo.Play(context.Background(), *url, *visitors, *seed)
	if err != nil {
		fmt.Fprintln(os.Stderr, "play:", err)
		os.Exit(1)
	}
	var countries []string
	for c := range sum.Countries {
		countries = append(countries, c)
	}
	sort.Strings(countries)
	fmt.Printf("%d sample visitors from %d countries (%v): %d requests, %d impressions\n",
		sum.Visitors, len(countries), countries, sum.Requests, sum.Impressions)
}
