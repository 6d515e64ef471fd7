# serin's image: one static binary on distroless (no shell, no libc, non-root).
#   docker build -t ghcr.io/serin-io/serin:0.1.0 .
# deploy/ runs it as user 65532 with a read-only root filesystem.

FROM rust:1-bookworm AS builder
# musl-tools provides musl-gcc, the C compiler for the musl target: aws-lc-sys (the crypto
# of kube's rustls, aws-lc-rs) compiles AWS-LC with the cc crate and ships pregenerated
# bindings for x86_64-unknown-linux-musl, so neither cmake nor clang is needed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin serin \
 && cp target/x86_64-unknown-linux-musl/release/serin /serin
# The shipped analysis templates, without the kustomization that packs them for deploy/.
RUN mkdir /templates \
 && cp analysis-templates/*.yaml /templates/ \
 && rm /templates/kustomization.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /serin /serin
COPY --from=builder /templates /etc/serin/templates
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/serin"]
CMD ["--help"]
