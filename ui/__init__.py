"""The web front ends: shopper chat, agent console, JSON API and the embeddable widget.

Thin adapters over `assistant.chat_service`; no business rules live here.
"""

import os

# Before anything imports gradio: a shop's server does not phone home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
