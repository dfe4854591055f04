package enrich

import (
	"hash/maphash"
	"slices"
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/x-way/crawlerdetect"
)

// DefaultHumanAgents returns the user-agent prefixes that the crawler list names but that a person
// at a terminal uses to try a link: a GET from them counts as a navigation (see the README).
func DefaultHumanAgents() []string { return []string{"curl/"} }

// Bots tells crawlers and link-preview agents (Slackbot, facebookexternalhit, Twitterbot and
// about 1,500 more, from the maintained Crawler-Detect list) from browsers. The list is a large
// regular expression, so verdicts are cached by a hash of the agent: a warm lookup costs one hash
// and does not allocate. Safe for concurrent use.
type Bots struct {
	detect *crawlerdetect.CrawlerDetect
	human  []string
	seed   maphash.Seed
	cache  *lru.Cache[uint64, bool]
}

// NewBots returns a detector that caches up to cacheSize verdicts. humanAgents are user-agent
// prefixes never counted as bots (nil: DefaultHumanAgents).
func NewBots(cacheSize int, humanAgents []string) *Bots {
	if cacheSize <= 0 {
		cacheSize = 16384
	}
	if humanAgents == nil {
		humanAgents = DefaultHumanAgents()
	}
	c, _ := lru.New[uint64, bool](cacheSize)
	return &Bots{detect: crawlerdetect.New(), human: slices.Clone(humanAgents), seed: maphash.MakeSeed(), cache: c}
}

// IsBot reports whether ua is a crawler or link-preview agent. An empty agent is a bot: every
// browser sends one.
func (b *Bots) IsBot(ua []byte) bool {
	if len(ua) == 0 {
		return true
	}
	h := maphash.Bytes(b.seed, ua)
	if v, ok := b.cache.Get(h); ok {
		return v
	}
	s := string(ua)
	v := b.classify(s)
	b.cache.Add(h, v)
	return v
}

func (b *Bots) classify(ua string) bool {
	for _, p := range b.human {
		if strings.HasPrefix(ua, p) {
			return false
		}
	}
	return b.detect.IsCrawler(ua)
}
