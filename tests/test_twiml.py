"""The TwiML callchat returns, parsed the way Twilio reads it."""

from xml.etree import ElementTree

from callchat import twiml


def test_incoming_call_greets_then_waits_in_silence_not_in_a_conference():
    xml = ElementTree.fromstring(str(twiml.answer("こんにちは", "Polly.Mizuki", "ja-JP", "https://x/voice/rooms/CA1/wait")))
    say = xml.find("./Say")
    assert say.text == "こんにちは"
    assert say.get("voice") == "Polly.Mizuki" and say.get("language") == "ja-JP"
    assert xml.find("./Redirect").text == "https://x/voice/rooms/CA1/wait"
    assert xml.find(".//Conference") is None


def test_no_greeting_means_no_say():
    xml = ElementTree.fromstring(str(twiml.answer("", "alice", "en-US", "https://x/wait")))
    assert xml.find("./Say") is None
    assert xml.find("./Redirect") is not None


def test_waiting_loop_pauses_then_comes_back():
    xml = ElementTree.fromstring(str(twiml.wait(30, "https://x/wait")))
    assert [child.tag for child in xml] == ["Pause", "Redirect"]
    assert xml.find("./Pause").get("length") == "30"
    assert xml.find("./Redirect").text == "https://x/wait"


def test_a_message_to_a_lone_caller_is_said_then_reported_spoken():
    xml = ElementTree.fromstring(str(twiml.speak({"kind": "say", "body": "もしもし", "voice": "Polly.Mizuki",
                                                  "language": "ja-JP"}, "https://x/spoken")))
    assert [child.tag for child in xml] == ["Say", "Redirect"]
    assert xml.find("./Say").text == "もしもし"
    assert xml.find("./Redirect").text == "https://x/spoken"


def test_moving_into_the_conference_with_status_callbacks():
    xml = ElementTree.fromstring(str(twiml.conference("CA" + "0" * 32, "https://callchat.example.com/voice/conference-status")))
    conference = xml.find("./Dial/Conference")
    assert conference.text == "CA" + "0" * 32
    assert conference.get("statusCallback") == "https://callchat.example.com/voice/conference-status"
    assert set(conference.get("statusCallbackEvent").split()) == {"start", "end", "join", "leave", "announcement"}
    assert conference.get("endConferenceOnExit") == "true"
    assert conference.get("startConferenceOnEnter") == "true"
    assert conference.get("participantLabel") == "caller"


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
