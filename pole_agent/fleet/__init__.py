"""The city's side of the MQTT contract: a reference consumer (``pole-agent fleet listen``) that
subscribes to many poles, de-duplicates by boot id and seq, reports gaps and stores what it
receives in SQLite."""
