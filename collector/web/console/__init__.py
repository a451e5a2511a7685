"""Server-rendered console pages: safeguarding, IT and trustee screens."""
