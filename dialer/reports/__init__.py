"""What comes out: campaign reports, explain and preview in words, costs."""
