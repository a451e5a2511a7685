"""Console sign-in: passwords (argon2id), server-side sessions, CSRF, throttling, TOTP."""
