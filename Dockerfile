# msgflashd container image (docs/operations.md, "Docker"). No Docker engine runs in CI; scripts/check-install
# exercises these steps instead: scripts/install --destdir, sysusers.d and tmpfiles.d on the staged files,
# the runtime package list against the binary's libraries.

# Build and test, with the packages the README's scripts/install-deps installs; stage the install.
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps scripts/install-deps
RUN scripts/install-deps
COPY . .
RUN cmake --preset release -DMSGFLASH_BUILD_BENCH=OFF \
 && cmake --build --preset release \
 && ctest --preset release --label-exclude integration \
 && scripts/install --binary build/release/daemon/msgflashd --destdir /out

# Run: only the runtime packages (scripts/install-deps --runtime), the user, group and directories from the
# same sysusers.d and tmpfiles.d files as a host install, as the non-root user msgflashd.
FROM debian:bookworm-slim AS runtime
COPY scripts/install-deps /tmp/install-deps
RUN /tmp/install-deps --runtime \
 && rm -rf /var/lib/apt/lists/* /tmp/install-deps
COPY --from=build /out/ /
RUN systemd-sysusers /usr/lib/sysusers.d/msgflashd.conf \
 && systemd-tmpfiles --create /usr/lib/tmpfiles.d/msgflashd.conf
# Accounts without key_file/key_env read /run/secrets/<account> (Docker/Compose secrets), as under systemd
# they read the credential of that name.
ENV CREDENTIALS_DIRECTORY=/run/secrets
USER msgflashd
WORKDIR /var/lib/msgflashd
VOLUME ["/var/spool/msgflashd", "/var/lib/msgflashd"]
# /healthz of the admin server on its default admin.listen (SPEC §9); change both together.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS --max-time 4 -o /dev/null http://127.0.0.1:9464/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/msgflashd"]
CMD ["--config", "/etc/msgflashd/msgflashd.toml"]
