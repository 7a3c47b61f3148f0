-- Certificate statements (task A): the server key's signature over the SHA-256 of each TLS
-- certificate the server has presented or will present. Clients that pinned an older
-- certificate follow a change only with the statement for the new one. Rows are kept:
-- they are public and small, and the directory's audit chain names each of them.
CREATE TABLE certificate_statements (
    cert_sha256 TEXT PRIMARY KEY,
    -- The JSON of the Signed<CertificateStatement>, exactly as signed and served.
    statement BLOB NOT NULL,
    issued_at INTEGER NOT NULL
);
