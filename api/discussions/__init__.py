"""Peer discussions inside each group: posts, replies, reactions, moderation, live sockets."""
