# Caddy with gemini_balance, as a small non-root image.
#
#   docker build -t gemini-balance .
#   docker run -d -p 8000:8000 -v gemini-data:/data \
#     -e GEMINI_API_KEYS='AIzaSy...one,AIzaSy...two' -e GEMINI_BALANCE_TOKEN='sk-...' \
#     gemini-balance
#
# The default config is Caddyfile.example (plain HTTP on :8000). Mount your own
# at /etc/caddy/Caddyfile; examples/docker-compose.yml shows a complete set-up.

# ---- build ----
FROM golang:1.26 AS build
# setcap, used below.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends libcap2-bin \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src

# Dependencies first, so they stay cached while the sources change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/caddy ./cmd/caddy

# Let the non-root user bind ports 80 and 443 (for automatic HTTPS). Docker's
# BuildKit keeps this file capability through COPY --from; with a builder that
# drops it, run setcap in the final stage instead. A container started with
# --cap-drop=ALL must add NET_BIND_SERVICE back (--cap-add=NET_BIND_SERVICE).
RUN setcap cap_net_bind_service=+ep /out/caddy

# ---- run ----
FROM alpine:3

RUN apk add --no-cache ca-certificates tzdata \
	&& addgroup -S -g 1000 caddy \
	&& adduser -S -D -H -u 1000 -G caddy -h /data -s /sbin/nologin caddy \
	&& mkdir -p /data /config /etc/caddy \
	&& chown caddy:caddy /data /config

COPY --from=build /out/caddy /usr/bin/caddy
COPY Caddyfile.example /etc/caddy/Caddyfile

# Caddy keeps certificates and the gemini_balance databases under
# $XDG_DATA_HOME/caddy (/data/caddy/gemini_balance/<pool>.db), and its
# autosaved config under $XDG_CONFIG_HOME/caddy.
ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config
VOLUME /data

USER caddy
WORKDIR /data

EXPOSE 8000 80 443 443/udp

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
	CMD wget -qO- http://127.0.0.1:8000/health || exit 1

CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
