"""The HTTP intake: alerts in over an authenticated webhook, into the durable inbox."""
