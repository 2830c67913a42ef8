# The dialer next to Asterisk in one image: Debian sid's asterisk package (the same one the
# sandbox chroot uses) with the project's asterisk_conf/, plus the dialer daemon.
# Not built in this project's CI (no Docker engine there); the sandbox is the tested path.
FROM debian:sid-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-moh-opsound-wav \
      espeak-ng ffmpeg python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY . /opt/dialer
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir /opt/dialer \
 && cp /opt/dialer/asterisk_conf/manager.conf /opt/dialer/asterisk_conf/amd.conf \
       /opt/dialer/asterisk_conf/queues.conf /opt/dialer/asterisk_conf/extensions_dialer.conf \
       /etc/asterisk/ \
 && echo '#include extensions_dialer.conf' >> /etc/asterisk/extensions.conf

# Set DIALER_AMI_SECRET and the same secret in /etc/asterisk/manager.conf for a real deployment.
ENV PATH=/opt/venv/bin:$PATH \
    DIALER_AMI_HOST=127.0.0.1 DIALER_AMI_PORT=5038 DIALER_AGI_PORT=4573
EXPOSE 5060/udp 10000-20000/udp
# asterisk forks into the background; the dialer daemon is the container's main process.
CMD ["sh", "-c", "asterisk -U asterisk -G asterisk && exec dialer run"]
