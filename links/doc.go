// Package links manages links as a resource: the versions of every link kept in a store (ClickHouse
// through the adapter), the catalog that each edge keeps in step with it (loaded at start, then the
// changes polled every second, a snapshot on disk for starting without the store), and the JSON API
// through which marketers, partners and networks create, list, change and disable links.
//
// A link is never deleted: disabling it writes a new version, and its history is every version,
// with who wrote it and when. A code is unique across servers by claims (see Catalog.Create): a
// server claims the codes it creates, waits until every earlier claim is visible, and keeps the
// codes whose earliest standing claim is its own.
package links
