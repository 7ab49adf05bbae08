"""Monitoring of the platform itself: are the agencies' files arriving on time (报送及时性)."""
