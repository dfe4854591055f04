# Build a static binary, then ship it alone in a small non-root image, with the built-in
# geography database (ip-location-db geo-whois-asn-country: CC BY 4.0, data by the NRO, nro.net).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/firstclaim ./cmd/firstclaim

FROM node:20-bookworm-slim AS geo
WORKDIR /geo
COPY scripts/geo /usr/local/bin/geo
RUN FIRSTCLAIM_GEO_CACHE=/geo geo install

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/firstclaim /usr/local/bin/firstclaim
COPY --from=geo /geo/geo-whois-asn-country.mmdb /geo/NRO_LICENSE /usr/share/firstclaim/
# Public links and pixels on 8080; health, metrics and reports on 9090.
EXPOSE 8080 9090
VOLUME ["/var/lib/firstclaim"]
USER nonroot:nonroot
WORKDIR /var/lib/firstclaim
ENTRYPOINT ["/usr/local/bin/firstclaim"]
CMD ["serve", "--listen", ":8080", "--admin-listen", ":9090", "--data-dir", "/var/lib/firstclaim", "--links", "/etc/firstclaim/links.csv"]
