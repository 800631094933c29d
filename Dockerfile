# trioftp in a container: docker build -t trioftp . ; see compose.yaml and
# docs/operations.md ("Containers") for the ports and the volume.
FROM python:3.11-slim

WORKDIR /build
COPY pyproject.toml README.md ./
COPY trioftp ./trioftp
RUN pip install --no-cache-dir /build \
    && rm -rf /build \
    && useradd --system --uid 2121 --home-dir /var/lib/trioftp --create-home trioftp \
    && mkdir -p /srv/ftp \
    && chown trioftp:trioftp /srv/ftp

# Never root: port 21 is bindable without root inside the container's own
# network namespace (Docker sets net.ipv4.ip_unprivileged_port_start=0 there;
# compose.yaml says so explicitly).
USER trioftp
WORKDIR /srv/ftp
# The files served; the self-signed certificate of --tls is kept in /var/lib/trioftp.
VOLUME ["/srv/ftp", "/var/lib/trioftp"]
# The control port and the passive range given to --range below (published 1:1).
EXPOSE 21 60000-60019

# The greeting on the control port: the server accepts connections.
HEALTHCHECK --interval=30s --timeout=5s \
    CMD ["python", "-c", "import socket; s = socket.create_connection(('127.0.0.1', 21), 4); assert s.recv(4) == b'220 '"]

# SIGTERM (docker stop) ends every session and exits with status 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["trioftp"]
# Behind Docker's port mapping, clients must be told the host's address for
# passive connections: add "--nat-address", "HOST-ADDRESS" (compose.yaml does).
CMD ["--interface", "0.0.0.0", "--port", "21", "--directory", "/srv/ftp", "--range", "60000-60019", "--cert-dir", "/var/lib/trioftp"]
