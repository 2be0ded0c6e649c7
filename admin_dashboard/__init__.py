"""The Streamlit staff dashboard lives here; see issue 6. It talks to the API over HTTP
only, never to the database."""
