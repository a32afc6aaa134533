# syntax=docker/dockerfile:1
# extauthz: a small, static, non-root image.
#   docker build -t tfgate/extauthz .

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/extauthz ./cmd/extauthz \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/extauthz /usr/local/bin/extauthz
# A directory the non-root user owns, for metadata caches and (in the demo
# compose file) the development IdP's metadata shared through a volume.
COPY --from=build --chown=nonroot:nonroot /out/state /var/lib/tfgate
USER nonroot:nonroot
# 9191: ext_authz gRPC (Envoy's extauthz_grpc cluster); 8080: SAML, /token, health, metrics.
EXPOSE 9191 8080
ENTRYPOINT ["/usr/local/bin/extauthz"]
CMD ["serve"]
