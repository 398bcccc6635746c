"""The Harmony format: rendering chats to token ids and parsing generated token ids."""
