"""The TwiML callchat returns, parsed the way Twilio reads it."""

from xml.etree import ElementTree

from callchat import twiml


def test_incoming_call_greets_then_joins_its_room_with_status_callbacks():
    xml = ElementTree.fromstring(str(twiml.join_room("CA" + "0" * 32, "こんにちは", "Polly.Mizuki", "ja-JP",
                                                     "https://callchat.example.com/voice/conference-status")))
    say = xml.find("./Say")
    assert say.text == "こんにちは"
    assert say.get("voice") == "Polly.Mizuki" and say.get("language") == "ja-JP"
    conference = xml.find("./Dial/Conference")
    assert conference.text == "CA" + "0" * 32
    assert conference.get("statusCallback") == "https://callchat.example.com/voice/conference-status"
    assert set(conference.get("statusCallbackEvent").split()) == {"start", "end", "join", "leave", "announcement"}
    assert conference.get("endConferenceOnExit") == "true"
    assert conference.get("startConferenceOnEnter") == "true"


def test_no_greeting_means_no_say():
    xml = ElementTree.fromstring(str(twiml.join_room("CAx", "", "alice", "en-US", "https://x/cb")))
    assert xml.find("./Say") is None
    assert xml.find("./Dial/Conference") is not None


def test_announcement_says_text_in_the_message_voice():
    xml = ElementTree.fromstring(str(twiml.announcement({"kind": "say", "body": "少々お待ちください",
                                                         "voice": "Polly.Takumi", "language": "ja-JP"})))
    assert [child.tag for child in xml] == ["Say"]
    assert xml.find("./Say").text == "少々お待ちください"
    assert xml.find("./Say").get("voice") == "Polly.Takumi"


def test_announcement_plays_audio():
    xml = ElementTree.fromstring(str(twiml.announcement({"kind": "play", "body": "https://example.com/a.mp3",
                                                         "voice": "", "language": ""})))
    assert [child.tag for child in xml] == ["Play"]
    assert xml.find("./Play").text == "https://example.com/a.mp3"
