"""What an operator hands in: campaign files, campaign states, contacts and DNC import, exports."""
