"""The account's Twilio numbers (IncomingPhoneNumbers) and their voice webhooks."""
