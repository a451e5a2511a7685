"""gRPC channel and server options for both sides, each set deliberately and explained once."""

# Messages: a batch of 1,000 events with 1 KiB titles is ~1.2 MB; allow headroom, refuse more.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# Keepalive: the agent pings every 60 s when idle so NAT boxes and college firewalls keep the
# stream's connection open. The server must allow pings that often, or it closes the connection
# with `too_many_pings` (its default minimum interval without data is 5 minutes).
CLIENT_KEEPALIVE_MS = 60_000
SERVER_MIN_PING_INTERVAL_MS = 30_000

CLIENT_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_MS),
    # Declare the peer dead if a ping is not answered within 20 s.
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # Our own reconnect loop does backoff with full jitter and fresh DNS; keep gRPC's short.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
    ("grpc.enable_retries", 0),
]

SERVER_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.http2.min_ping_interval_without_data_ms", SERVER_MIN_PING_INTERVAL_MS),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_ping_strikes", 5),
    # Server pings idle agents every 2 minutes to notice half-open connections.
    ("grpc.keepalive_time_ms", 120_000),
    ("grpc.keepalive_timeout_ms", 20_000),
]
