"""The Bedford Borough Quality Assurance and Learning Framework (April 2018)
as the ``bedford`` plugin's definitions (councils/bedford/definitions).

Every expected value is written here as data, with the seed section it comes
from in a comment ("BED s.4", "BED App. A SECTION 2"): the seed is the Bedford
framework (``001_…``, from "Transcription:"), which a clone of this
repository does not have, so nothing here reads it.
The transcription drops curly apostrophes ("Team Manager s"), runs page
numbers, list bullets ("o o") and App. B's "Yes No Comments" header into the
text and doubles some full stops ("help..", "?."); the literals below restore
the apostrophes and leave out the page furniture, as the definitions do, and
are otherwise the seed's words.

These tests read definitions and expand the programme (pure functions): they
prove no requirement on their own, so they carry no requirement tags. What a
user sees is proven through the services and pages: BED-1 and CORE-1 in
tests/test_bedford_case_file_audit.py; BED-2, BED-3, BED-5 and BED-10 in
tests/test_bedford_lifecycle.py; BED-4 in tests/test_bedford_compliance.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest

from core import workflow as wf
from core.forms import fields_of, problems_for_submit
from core.plugins import load_plugins
from core.programme import StaffMember, expand
from core.settings import Settings


def one_line(text: str) -> str:
    """One space between words (YAML folded scalars and long literals)."""
    return " ".join(text.split())


def quotes(source: str) -> list[str]:
    """The quoted fragments of a definition's ``source``, split at ellipses."""
    out = []
    for quoted in re.findall(r'"(.*?)"', source):
        out.extend(part.strip() for part in quoted.split("...") if part.strip())
    return out


# --- the seed, as data -----------------------------------------------------------

# BED App. A s.1b: "Category of case (CAF/ TAC; CiN; CP; LAC; CwD; Care Leaver)"
CATEGORIES = ("CAF/ TAC", "CiN", "CP", "LAC", "CwD", "Care Leaver")

# BED App. A SECTION 1 (CASE SUMMARY AND KEY INFORMATION), in the seed's order:
# "1a. CASE SUMMARY / PEN PICTURE 1b KEY INFORMATION Audit Tracking Number: Azeus
# Number: Date of audit: Name of Auditor and Designation: Team Name: Team Manager:
# Social Worker: Category of case (...) Age of child: Ethnicity: Gender: Referral
# Date Disability: Previous Referrals and Contacts (dates): Referral Source Reason
# for Referral Start/ end date(s) of CiN/ CP/ LAC periods Placement Type Is the
# child / young person living out of Borough and if so where? Please note gaps in
# essential information"
SECTION_1_TITLE = "SECTION 1 (CASE SUMMARY AND KEY INFORMATION)"
SECTION_1_LABELS = (
    "1a. CASE SUMMARY / PEN PICTURE",
    "Audit Tracking Number",
    "Azeus Number",
    "Date of audit",
    "Name of Auditor and Designation",
    "Team Name",
    "Team Manager",
    "Social Worker",
    "Category of case",
    "Age of child",
    "Ethnicity",
    "Gender",
    "Referral Date",
    "Disability",
    "Previous Referrals and Contacts (dates)",
    "Referral Source",
    "Reason for Referral",
    "Start/ end date(s) of CiN/ CP/ LAC periods",
    "Placement Type",
    "Is the child / young person living out of Borough and if so where?",
    "Please note gaps in essential information",
)
# BED App. A s.1b: "Was last visit in time? y/n Is assessment in time? y/n Is Plan
# in time? y/n Is last supervision in time? y/n"
IN_TIME_CHECKS = ("Was last visit in time?", "Is assessment in time?", "Is Plan in time?", "Is last supervision in time?")

# BED App. A SECTION 2: "SECTION 2 (review the past 6 months) PLEASE NOTE Where a
# case is found to INADEQUATE, ..." and the grid's "Auditor evaluation Please
# note Comments should include ... Grade".
SECTION_2_TITLE = "SECTION 2 (review the past 6 months)"
INADEQUATE_SENTENCE = (
    "Where a case is found to INADEQUATE, the auditor must inform the Manager and Social Worker for "
    "immediate actions to take place to rectify any issues that are apparent."
)
SECTION_2_GUIDANCE = (
    f"PLEASE NOTE {INADEQUATE_SENTENCE} Please note Comments should include evidence of what is good, "
    "requires improvement and also learning points that are evident in each section."
)
# BED App. A SECTION 2 "AUDIT QUESTIONS Criteria" 1-16: each criterion and the
# questions printed under it, in order.
CRITERIA: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("1. Effective early help support is provided", (
        "Has previous historical information been taken in to account?",
        "What is the quality of the referral?",
        "Has early intervention been appropriately undertaken?",
    )),
    ("2. Risk is identified, responded to and reduced in a timely way.", (
        "sexual exploitation", "neglect", "emotional abuse", "sexual abuse", "physical abuse", "domestic abuse",
        "consider any strategy meetings, section 47 investigations and planning to assess and manage risk",
    )),
    ("3. Children, young people and families are appropriately involved", (
        "Is there evidence of impact of the involvement of children and their families in assessment, planning and intervention?",
        "Are the views of significant males effectively gathered?",
        "Are the views of all significant adults effectively gathered (i.e. wider family, estranged parents)?",
        "Are children seen and seen alone and are the issues they raise understood and acted on?",
        "Do children benefit from stable and effective relationships?",
        "Do children and parents/carers have an equal voice?",
        "Does it evidence individual work undertaken, including appropriate direct work?",
        "Is this linked to the plan and the reduction of risk?",
        "What is the impact of this for children and their families?",
    )),
    ("4. Decision making is effective and timely.", (
        "Is there evidence of effective and timely management oversight and direction on cases, and clearly recorded rationale for decisions being made?",
        "Is supervision regular, of good quality and making a positive difference for this child?",
        "Is recording clear, comprehensive, reflective of work undertaken and focussed on the experience and progress of the child?",
    )),
    ("5. Assessments are timely, comprehensive, analytical and of high quality. They lead to appropriately focused help.", (
        "Do they incorporate historical factors, informed by up to date case chronology?",
        "Do they identify risk, needs and protective factors, including parental capacity to change?",
    )),
    ("6. Coordination between agencies is effective", (
        "Is consent for information sharing well considered?",
        "Is joint working and information sharing improving the experience and sustaining the progress of children and young people?",
        "Do the right agencies attend decision making meetings such as strategy meeting, CP Conferences, LAC reviews, CIN reviews?",
    )),
    ("7. Cultural competence is demonstrated- Consideration and impact of diversity", (
        "For example, age, disability, ethnicity, faith or belief, gender, identity, language, race and sexual orientation.",
    )),
    ("8. Plans are of good quality and lead to improved outcomes for children and families.", (
        "Are they influenced by views of children and parents/carers and diversity issues?",
        "Are they: up to date and updated, timely, comprehensive, specific with measurable outcomes and dynamic?",
        "Are they implemented?",
        "Consider length of plan or any themes?",
        "Do they show quality of management oversight?",
    )),
    ("9. Permanency is achieved without delay and reflects assessed needs.", (
        "Are care leavers effectively prepared for independence and supported through their transition to adulthood?",
        "Are plans for permanency, including adoption, in the best interests of children and young people and achieved without delay?",
        "Evaluate the quality of preparation for placement",
    )),
    ("10. Children and young people participate in and benefit from effective regular reviews", (
        "Are reviews scrutinised and challenged robustly to ensure that they support children in making good progress?",
        "What is the influence and impact of the Independent Reviewing Officer/Child Protection Chair?",
        "Are children and their families supported to participate in the review and do their views influence decisions made?",
        "Does the review process ensure that any drift or delay is identified and challenged?",
    )),
    ("11. Placements are of good quality and children are living in accommodation that meets their needs (at home or looked after or care leavers)", (
        "Are children appropriately placed according to their assessed needs?",
        "Evaluate the effectiveness of: matching, stability and maintenance of contact with family/friends support for placements (including adoption support)",
    )),
    ("12. If the placement is out of borough, is there clear evidence of positive action to ensure that the welfare of the child is being promoted?", (
        "(E.g. clear expectations of the provider, social work engagement with the school, virtual head health providers, "
        "promotion of contact where appropriate, identification with Bedford, the IRO's engagement with the child/young person)",
    )),
    ("13. The help provided has improved outcomes for this child/ family", (
        "Are children supported to achieve their full potential?",
        "Evaluate impact (including education, physical health, and their emotional well-being).",
        "Do children have developed networks within their community and are they safe?",
    )),
    ("14. Has the child / young person had episodes when they were missing?", ("If so was appropriate action taken?",)),
    ("15. Is the child / young person at risk or previously at risk of CSE?", (
        "If so was this identified early and was appropriate action taken?",
    )),
    ("16. Is the child/ young person at risk of or involved in offending?", (
        "If so, was appropriate action taken and are all agencies working together to support this child/ young person",
        "Consider clear identification of risk of offending, risk of harm to self and others and evidence of joint working and planning.",
    )),
)  # fmt: skip
# BED App. A criterion 2: "Where relevant include evaluation of identification
# and response to children who experience and/or are at risk of:"
CRITERION_2_GUIDANCE = "Where relevant include evaluation of identification and response to children who experience and/or are at risk of:"

# BED App. A SECTION 3: "SECTION 3- Feedback from child/ young person/ family- the
# auditor will speak ..." and its five numbered questions with their prompts.
SECTION_3_TITLE = "SECTION 3- Feedback from child/ young person/ family"
SECTION_3_GUIDANCE = (
    "the auditor will speak directly with or meet with the family/ child/ young person to gain their feedback. "
    "If this is not appropriate, the reasons must be detailed below and consideration must be given to whether "
    "another manager should seek to gain this feedback."
)
FAMILY_QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("1. Can you please tell me about your experience of working with children's services/ your social worker?", (
        "Did you understand why a social worker was visiting you?",
    )),
    ("2. Did you feel your social worker listened to you?", (
        "Are you happy with the way your social worker communicated with you?",
        "what could we have done differently to improve this?",
    )),
    ("3. How were you involved in the assessment (and plan, if relevant) that was done with your family?", (
        "what could we have done differently to improve this?",
    )),
    ("4. If there were any meetings (i.e. CP Conference, CIN review, PLO meeting, LAC review) Did you feel prepared for and supported within these meetings?", (
        "Did you feel able to have your say?",
        "Did you receive any paperwork in enough time to read and understand it?",
        "what could we have done differently to improve this?",
    )),
    ("5. Was support put in place for you and how did it make a difference for you and your family?", ()),
)  # fmt: skip

# BED App. A "Section 4- Social Worker comments on findings of the audit - To be
# completed following a discussion between the Social Worker and the auditor:"
SECTION_4_TITLE = "Section 4- Social Worker comments on findings of the audit"
SECTION_4_GUIDANCE = "To be completed following a discussion between the Social Worker and the auditor:"
# BED App. A "SECTION 5 Recommendations - To be completed by the auditor
# Recommendations Date for completion/review Who is responsible for action"
SECTION_5_TITLE = "SECTION 5 Recommendations"
SECTION_5_GUIDANCE = "To be completed by the auditor"
RECOMMENDATION_COLUMNS = ("Recommendations", "Date for completion/review", "Who is responsible for action")
# BED App. A "SECTION 5 - Summary Summary of strengths of practice and areas for improvement"
SUMMARY_TITLE = "SECTION 5 - Summary"
SUMMARY_LABEL = "Summary of strengths of practice and areas for improvement"
# BED App. A "SECTION 6 Overall Grade Overall Grade Tick Box Outstanding: ...
# Rationale for Grade:"
SECTION_6_TITLE = "SECTION 6 Overall Grade"
FOUR_POINT = (
    ("Outstanding", "Extraordinary work is consistently of the highest standard."),
    ("Good", "Practice is good in all areas of the audit."),
    ("Requires Improvement", "Practice may be good in parts but it is not consistent in all areas of the audit further work is required."),
    ("Inadequate", "Poor practice is indicated in all aspects of the audit."),
)
# BED s.3 All Auditors will: "Ensure, where possible, that the audit is undertaken
# with the worker. Where this cannot be achieved, the auditor will offer a shared
# reflective discussion with the worker on the case audited."
WITH_THE_WORKER = (
    "Ensure, where possible, that the audit is undertaken with the worker. Where this cannot be achieved, "
    "the auditor will offer a shared reflective discussion with the worker on the case audited."
)

# BED s.3 Forms and Guidance: "Compliance audits should cover the following:
# Religion Ethnicity Up to date Chronology Assessment in time Up to date Plan
# Visit in time Supervision in time"
COMPLIANCE_CHECKS = (
    "Religion", "Ethnicity", "Up to date Chronology", "Assessment in time", "Up to date Plan", "Visit in time", "Supervision in time",
)  # fmt: skip
# BED s.3 Team Managers: "Where remedial actions are required from these
# compliance audits, the manager will add a management direction case note ..."
MANAGEMENT_DIRECTION = (
    "the manager will add a management direction case note detailing the required actions and timescales "
    "and will then review completion of these actions within supervision."
)

# BED App. B Supervision Audit: "Auditor: Date of audit: CASE FILE SUPERVISION Case
# File ID audited Name of Supervisor Name of Supervisee PROFESSIONAL SUPERVISION
# Name of Supervisor: Name of Supervisee:"
CASE_SUPERVISION_DETAILS = ("Auditor", "Date of audit", "Case File ID audited", "Name of Supervisor", "Name of Supervisee")
PROFESSIONAL_SUPERVISION_DETAILS = ("Auditor", "Date of audit", "Name of Supervisor", "Name of Supervisee")
# BED App. B: "The following section should be filled in for audits of case file
# supervision. The audit should review case supervision/ management oversight
# over the past 6 months. CASE FILE SUPERVISION ..." (nine questions, each "Yes No
# Comments").
CASE_SCOPE = "The audit should review case supervision/ management oversight over the past 6 months."
CASE_SUPERVISION_GUIDANCE = f"The following section should be filled in for audits of case file supervision. {CASE_SCOPE}"
CASE_SUPERVISION_QUESTIONS = (
    "Is the decision-making in this case safe and defensible?",
    "Do the records demonstrate clear decision making and management direction?",
    "Is there evidence of Management support, oversight and challenge?",
    "Is there evidence that supervision and management oversight is helping to drive the case forward and intervene where cases are stuck?",
    "Is there evidence of meaningful case discussion and reflection that contributes to planning for the child?",
    "Is there evidence of regular supervision? (How many in the last 6 months?)",
    "Is there evidence within supervision records that the manager is ensuring statutory requirements/ standards are being met "
    "and maintained? (note whether a compliance check was completed during or prior to supervision)",
    "Is there evidence High risk/complex cases being escalated to senior managers, inc Need to Knows.",
    "Is the child safe? (if not immediately raise with HOS)",
)
# BED App. B: "The following section should be filled in for audits of
# professional supervision. The audit should review personal supervision over the
# past 6 months. PROFESSIONAL SUPERVISION ..." (four questions).
PROFESSIONAL_SCOPE = "The audit should review personal supervision over the past 6 months."
PROFESSIONAL_SUPERVISION_GUIDANCE = f"The following section should be filled in for audits of professional supervision. {PROFESSIONAL_SCOPE}"
PROFESSIONAL_SUPERVISION_QUESTIONS = (
    "Is there evidence of monthly personal supervision over the past 6 months?",
    "If performance issues are raised from case supervision, is there evidence that this is linked to learning and "
    "development discussions held in professional supervision?",
    "Are performance issues addressed and clearly defined with expectations given around improvement?",
    "Is good performance highlighted and encouraged?",
)
# BED s.4 Supervision Audit, Roles and Responsibilities.
SUPERVISION_REVIEW = (
    "Managers will review findings of the audits at their next supervision; Managers will agree actions required as an "
    "outcome of the supervision audits and record these within the supervision record of the supervisor who was audited; "
    "Managers will send a copy of the audit record to the S&QA Team upon completion of the review with the TM/AP;"
)
HOS_SUPERVISION_AUDITS = (
    "Managers (Heads of Service) will undertake one audit of a Team Manager's professional supervision records each "
    "month and one audit of a Team Manager's case specific supervision each month."
)
TM_SUPERVISION_AUDITS = (
    "Team Managers will undertake one audit of their Advanced Practitioner's professional supervision records each "
    "month and one audit of their Advanced Practitioner's case specific supervision each month."
)

# BED App. C PRACTICE OBSERVATION (CHILDREN'S SERVICES): "MANAGER/WORKER:
# MANAGER/WORKER ROLE: OBSERVER: OBSERVER ROLE: ACTIVITY OBSERVED: DATE OF
# OBSERVATION: Please give a brief description ... Which aspects ... went well?
# Explain your judgement Which aspects ... need further development? Explain your
# judgement Specific comments: Please tick ..."
PRACTICE_OBSERVATION_TITLE = "PRACTICE OBSERVATION (CHILDREN'S SERVICES)"
PRACTICE_OBSERVATION_DETAILS = (
    "MANAGER/WORKER",
    "MANAGER/WORKER ROLE",
    "OBSERVER",
    "OBSERVER ROLE",
    "ACTIVITY OBSERVED",
    "DATE OF OBSERVATION",
    "Please give a brief description of activity and manager's/worker's role within the activity",
    "Which aspects of the worker's presentation/involvement/contributions went well?",
    "Which aspects of the worker's presentation/involvement/contributions need further development?",
)
PRACTICE_OBSERVATION_GUIDANCE = "Specific comments: Please tick the most appropriate box for each area of practice. You can add general comments below."
# BED App. C "Area of practice ..." (the six rows) and its tick-box columns,
# printed worst first: "Skills not seen at all Few skills seen, but could improve
# A good level of skill seen Skills demonstrated were outstanding".
PRACTICE_AREAS = (
    "Communication with child/family/professionals",
    "Preparation and professionalism",
    "Ensuring the activity is child focussed",
    "Robust safeguarding and Risk Management",
    "Demonstration of leadership skills",
    "Quality of decision making",
)
SKILLS_AS_PRINTED = (
    "Skills not seen at all", "Few skills seen, but could improve", "A good level of skill seen", "Skills demonstrated were outstanding",
)  # fmt: skip
# BED App. C: "Any other comments: Manager's/ Worker's comments Feedback from
# children/young people/ families and professionals:"
PRACTICE_OBSERVATION_COMMENTS = (
    "Any other comments", "Manager's/ Worker's comments", "Feedback from children/young people/ families and professionals",
)  # fmt: skip

# BED s.6 Observation of Meetings, Areas and Judgements: "The following meetings
# will be observed: Child Protection Conference Initial/ Review; Strategy
# discussion/meeting; Core Group meeting; Looked After Child Review; ARP (Access
# to Resources Panel); Legal Planning Meeting. Child in Need Meeting"
MEETING_TYPES = (
    "Child Protection Conference Initial/ Review",
    "Strategy discussion/meeting",
    "Core Group meeting",
    "Looked After Child Review",
    "ARP (Access to Resources Panel)",
    "Legal Planning Meeting",
    "Child in Need Meeting",
)
# BED s.6: "Each meeting will be assessed in the following areas: ...;
# Overall effectiveness." (fourteen, separated by semicolons)
MEETING_AREAS = (
    "The focus on the child",
    "Children, young people and their families feedback and whether they feel they have been effectively helped",
    "Attendance and participation of children, young people, and advocates, including effectiveness of communication "
    "and involvement, evidence of understanding and impact",
    "Attendance and participation of parents, carers and advocates, including effectiveness of communication and "
    "involvement, evidence of understanding and impact",
    "Attendance and participation of professionals and partner agencies",
    "Protective factors are acknowledged and built upon",
    "Risk is identified, responded to and reduced",
    "Quality of decision-making - effective and timely",
    "Quality of evidence gathering and information sharing",
    "Quality of assessment and help: comprehensive and up to date",
    "Quality of planning and review. Reviews are timely, effective, appropriately challenging and lead to the delivery of a child-centred plan",
    "Effectiveness of coordination between agencies and quality of joint working",
    "Consideration and impact of age, disability, ethnicity, faith or belief, gender, gender identity, language, race and sexual orientation",
    "Overall effectiveness",
)
# BED s.6 Managers (Heads of Service): "Managers will complete a record of the
# observation and discuss this with the chair of the meeting. A shared record of
# learning and actions will be agreed and recorded;"
CHAIR_DISCUSSION = (
    "Managers will complete a record of the observation and discuss this with the chair of the meeting. "
    "A shared record of learning and actions will be agreed and recorded;"
)

# BED App. D Team Manager 1-3 and Independent Chairs 1-2.
CRS_OBSERVATION = (
    "Observation of at least 1 child protection conference and 1 looked after child review per month to ensure the "
    "chairing is robust, all safeguarding issues are addressed and the plans are progressing. These observations will "
    "also include an audit of the minutes and plans formulated as a result of the conference/ review."
)
CRS_MINUTES = (
    "Auditing of at least one set of minutes from a child protection conference and looked after child review per "
    "month, ensuring the quality of minutes, evidence of multi-agency input and decision making and child centred planning."
)
CRS_PLANS = (
    "Auditing of at least one child protection plan and looked after child plan per month, ensuring the plans are "
    "robust, SMART and child centred."
)
CRS_MONITORING = (
    "Completion of monitoring forms after each child protection conference and looked after child review. These forms "
    "highlight the preparation for conference/ review, quality of assessment and plan and any concerns. Team Managers "
    "can use these forms as part of supervision."
)
CRS_MIDWAY = (
    "Completion of midway reviews which are held between the independent chair and social worker mid-way between "
    "conferences and reviews. These reviews are used to assess the progression of plans and ensure there is no drift or delay."
)
# BED App. D (opening paragraph): the chairs' escalation route.
CHAIR_ESCALATION = (
    "If they become aware of practice concerns that are placing a child at risk they are required to raise an "
    "Escalation and notify the relevant Team Manager immediately. The Team Manager will then investigate the issues "
    "raised and take appropriate action."
)
CHAIR_ESCALATION_SERIOUS = (
    "If they become aware of a serious issue or one that involves a management decision the escalation will be sent "
    "to the Manager for the service area to action."
)
# BED s.3 All Auditors will: the 48-hour remedial actions.
REMEDIAL_ACTIONS = (
    "Ensure that Remedial Actions are notified to the Worker and Manager within 48 hours, and copied to IRO/CP Chair "
    "as required; (Auditors should send an email with all actions required to the Worker, Manager and where "
    "appropriate IRO/CP Chair and then copy this into Azeus)"
)

# The seed's sentences the schedules and escalation rules quote in their
# `source`, by section, word for word. Every quoted fragment must come from one
# of them, and each of them must still be quoted by some definition.
SOURCE_SENTENCES: dict[str, tuple[str, ...]] = {
    # BED s.2 Summary
    "s.2": (
        "A random sample of roughly 10% of cases per year;",
        "Supervision will be assured by: A regular monthly audit of supervision records; At least an annual survey of staff.",
    ),
    # BED s.3 Case File Audits: Rationale
    "s.3 Rationale": (
        "Complete file audits on a random 10% sample of cases each year (c.140) to assess progress in improving practice "
        "and identify priorities for learning and improvement;",
    ),
    # BED s.3 Roles and Responsibilities: Team Managers
    "s.3 Team Managers": (
        "All Team Managers will undertake one case file audit per month;",
        "Team Managers may undertake up to four additional thematic audits each year on key areas of concern for the service.",
        "Team Managers will ensure at least 2 compliance audits for each member of staff they supervise are completed prior to supervision.",
        "Team Managers will ensure there is a process within the team to oversee and track remedial actions.",
    ),
    # BED s.3 Advanced Practitioners
    "s.3 Advanced Practitioners": (
        "All Advanced Practitioners will undertake one case file audit per month;",
        "Advanced Practitioners may undertake up to four additional thematic audits each year on key areas of concern for the service.",
        "Advanced Practitioners will ensure at least 2 compliance audits for each member of staff they supervise are completed prior to supervision.",
    ),
    # BED s.3 Senior Managers (Heads of Service, Chief Officer, Director)
    "s.3 Senior Managers": (
        "All Senior Managers will review the audits completed within the service and Quality Assure the audits, sharing "
        "feedback with the relevant Team Manager/ Advanced Practitioner.",
        "Where learning is identified for individuals or teams within the service, the Manager of the relevant service "
        "will discuss this within supervision with the relevant Team Manager and will agree a plan to address the "
        "learning..where required the Manager will commission the Safeguarding and Quality Assurance team to undertake "
        "an independent audit to test out the learning and improvement.",
    ),
    # BED s.3 All Auditors will
    "s.3 All Auditors": (REMEDIAL_ACTIONS,),
    # BED s.3 Safeguarding and Quality Assurance Team will
    "s.3 S&QA": (
        "Complete monthly overview reports on all quality assurance activity, reporting to DMT. These reports will be "
        "shared with other leadership groups where requested/ required.",
        "Produce regular briefings for the service in the learning and improvements demonstrated through quality assurance activity.",
        "Dip sample audits to ensure that the quality of audits is of a high standard and remedial actions are being followed through.",
        "Undertake independent audits where requested from the relevant service Manager.",
        "Lead on thematic audit days across the service.",
    ),
    # BED s.3 Leadership Groups
    "s.3 Leadership Groups": (
        "DMT and where relevant, SLT will all consider the findings of case file audits at least quarterly, highlighting "
        "key learning points and identifying actions for workforce development etc.",
    ),
    # BED s.4 Supervision Audit: Roles and Responsibilities
    "s.4": (
        HOS_SUPERVISION_AUDITS,
        TM_SUPERVISION_AUDITS,
        "Manager (Head of Service) will prepare a quarterly summary of issues and learning from supervision audits;",
        "DMT will review Supervision Audit findings quarterly in order to support learning and development of the service;",
    ),
    # BED s.5 Staff Observation: Roles and Responsibilities; Leadership Groups
    "s.5": (
        "The Team Manager and Advanced Practitioner within the Academy will observe the practice of newly qualified "
        "workers in line with local and national AYSE policy, using agreed templates for this;",
        "All Team Managers (or APs where agreed locally) will observe the practice of workers at least once every year;",
        "All Team Managers will identify any workers within the team in need of support with improving performance. "
        "These workers will be observed at least every 6 months, and more frequently where required;",
        "All Managers will ensure that appropriate arrangements are in place within teams for staff observation;",
        "All Managers will report on the learning from staff observation at least annually.",
        "DMT and SLT will all consider the findings of staff observation at least once per year, highlighting key "
        "learning points and identifying actions for workforce development etc.",
    ),
    # BED s.6 Observation of Meetings: Roles and Responsibilities
    "s.6": (
        "Managers will observe a key meeting within their service at least twice per year;",
        "Senior Leaders will observe key meetings once per year; Roles as above.",
    ),
    # BED s.7 Themed Audit Days: Roles and Responsibilities
    "s.7": (
        "The Director and Chief Officer will support the day by leading relevant discussions and promoting involvement, "
        "challenge and the development of common standards of excellence in practice.",
        "The Director and Chief Officer will support with the identification of relevant themes taken from local "
        "performance data, national trends, serious incident, and serious successes.",
        "Managers will support with the identification of relevant themes taken from local performance data, national "
        "trends, serious incident, and serious successes.",
        "The S&QA team will lead the day, planning and where appropriate, completing the themed audits, ensuring relevant "
        "performance data and other relevant information is available and ensuring the day promotes positive learning.",
        "The S&QA team will ensure that the outcome of each themed audit day leads to a targeted action plan to address "
        "areas for improvement and will support the task and finish group to achieve the actions set.",
        "DMT and SLT will ensure that any actions and plans as a result of the themed audit days are embedded within practice.",
    ),
    # BED App. A SECTION 2
    "App. A": (SECTION_2_TITLE, SECTION_2_GUIDANCE.split(" Please note Comments")[0]),
    # BED App. B CASE FILE SUPERVISION
    "App. B": (CASE_SUPERVISION_QUESTIONS[-1],),
    # BED App. D
    "App. D": (
        CHAIR_ESCALATION,
        CHAIR_ESCALATION_SERIOUS,
        "Observation of at least 1 child protection conference and 1 looked after child review per month",
        "Auditing of at least one set of minutes from a child protection conference and looked after child review per month",
        "Auditing of at least one child protection plan and looked after child plan per month",
        "The Team Manager will share the learning and outcomes from the quality assurance activity within monthly reports "
        "to the S&QA Manager which will be incorporated into the monthly QA Overview Report and any other requested "
        "activity to present to DMT.",
        CRS_MONITORING,
        CRS_MIDWAY,
    ),
}


def source_sentence(fragment: str) -> str | None:
    """The seed sentence of SOURCE_SENTENCES that ``fragment`` is quoted from."""
    for sentences in SOURCE_SENTENCES.values():
        for sentence in sentences:
            if one_line(fragment) in one_line(sentence):
                return sentence
    return None


# --- the plugin ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bedford(tmp_path_factory):
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("bedford"),
        database_url="sqlite:///unused",
        councils=("bedford",),
        secret_key="k" * 40,
    )
    return load_plugins(settings)


@pytest.fixture(scope="module")
def reg(bedford):
    return bedford.registry


def form(reg, key):
    return reg.form(f"bedford:{key}")


def section(form_, key):
    return next(s for s in form_.sections if s.key == key)


def question(form_, key):
    sec, q = key.split(".")
    return next(x for x in section(form_, sec).questions if x.key == q)


def schedule(reg, key):
    return reg.schedules[f"bedford:{key}"].value


def rule(reg, key):
    return reg.escalations[f"bedford:{key}"].value


def workflow(reg, key):
    return reg.workflow(f"bedford:{key}")


# A Team Manager with six supervisees (one of them an Advanced Practitioner
# who supervises two workers) reporting to the Head of Service, the senior
# managers and the CRS Team Manager.
TM = StaffMember(1, "Tara Manager", "team_manager", line_manager=2)
AP = StaffMember(10, "Ada Practitioner", "advanced_practitioner", line_manager=1)
TEAM = [AP] + [StaffMember(10 + n, f"Worker {n}", "social_worker", line_manager=1) for n in range(1, 6)]
AP_TEAM = [StaffMember(20 + n, f"AP worker {n}", "social_worker", line_manager=10) for n in range(1, 3)]
STAFF = [
    TM,
    *TEAM,
    *AP_TEAM,
    StaffMember(2, "Hal Head", "head_of_service"),
    StaffMember(3, "Cleo Chief", "chief_officer"),
    StaffMember(4, "Dora Director", "director"),
    StaffMember(5, "Sue Quality", "sqa_manager"),
    StaffMember(6, "Ollie Officer", "sqa_officer"),
    StaffMember(7, "Cara Review", "crs_team_manager"),
    StaffMember(8, "Ira Reviewing", "iro", line_manager=7),
    StaffMember(9, "Cal Chair", "cp_chair", line_manager=7),
    StaffMember(30, "DMT", "dmt"),
    StaffMember(31, "SLT", "slt"),
]
YEAR = 2018  # the framework's year from April 2018 (council year_start_month: 4)
MONTH_ENDS = [
    dt.date(2018, 4, 30), dt.date(2018, 5, 31), dt.date(2018, 6, 29), dt.date(2018, 7, 31),
    dt.date(2018, 8, 31), dt.date(2018, 9, 28), dt.date(2018, 10, 31), dt.date(2018, 11, 30),
    dt.date(2018, 12, 31), dt.date(2019, 1, 31), dt.date(2019, 2, 28), dt.date(2019, 3, 29),
]  # fmt: skip
QUARTER_ENDS = [MONTH_ENDS[i] for i in (2, 5, 8, 11)]


@pytest.fixture(scope="module")
def programme(reg):
    return expand(reg, "bedford", YEAR, STAFF)


def items(programme, person, schedule_key):
    return [i for i in programme if i.person == person.name and i.schedule == schedule_key]


# --- the council ---------------------------------------------------------------


def test_the_council_its_year_and_the_case_categories_of_appendix_a(bedford, reg):
    council = reg.council("bedford")
    assert {i.name: i.council for i in bedford.info}["bedford"] == "bedford"
    assert council.year_start_month == 4
    assert council.practitioner_role == "social_worker" and council.team_manager_role == "team_manager"
    assert tuple(c.label for c in council.case_categories) == CATEGORIES
    choice = question(form(reg, "case_file_audit"), "section_1.category")
    assert [(o.value, o.label) for o in choice.options] == [(c.key, c.label) for c in council.case_categories]
    # s.3: "All Team Managers will undertake one case file audit per month";
    # "All Advanced Practitioners will undertake one case file audit per month":
    # each draws one case a month, on the case file audit form.
    drawing = {
        s.value.role.split(":")[-1]: (s.value.form, s.value.cases.draw, s.value.cases.count)
        for s in reg.schedules.values()
        if s.value.key.startswith(("tm_", "ap_")) and s.value.cases is not None and s.plugin == "bedford"
    }
    assert drawing == {"team_manager": ("case_file_audit", "random", 1), "advanced_practitioner": ("case_file_audit", "random", 1)}


def test_roles_and_the_escalation_ladder(reg):
    roles = {r.key: r for r in reg.roles_of("bedford")}
    assert set(roles) >= {
        "social_worker", "advanced_practitioner", "team_manager", "head_of_service", "chief_officer",
        "director", "sqa_manager", "sqa_officer", "crs_team_manager", "iro", "cp_chair", "dmt", "slt",
    }  # fmt: skip
    ladder, role = ["social_worker"], roles["social_worker"]
    while role.escalates_to:
        ladder.append(role.escalates_to)
        role = roles[role.escalates_to]
    # BED s.3 "Senior Managers (Heads of Service, Chief Officer, Director)", above the Team Managers.
    assert ladder == ["social_worker", "team_manager", "head_of_service", "chief_officer", "director"]
    assert "Senior Managers (Heads of Service, Chief Officer, Director)" in schedule(reg, "hos_audit_quality_assurance").source
    assert roles["iro"].escalates_to == roles["cp_chair"].escalates_to == "crs_team_manager"
    for senior in ("head_of_service", "chief_officer", "director", "sqa_officer"):
        assert "qa_review" in roles[senior].capabilities
    assert "qa_review" not in roles["team_manager"].capabilities
    assert "audit" not in roles["social_worker"].capabilities


# --- Appendix A: the case file audit tool ------------------------------------------


def test_section_1_key_information_and_the_four_in_time_checks(reg):
    audit = form(reg, "case_file_audit")
    assert audit.title == "Case File Audit"
    assert one_line(audit.guidance) == WITH_THE_WORKER
    s1 = section(audit, "section_1")
    assert s1.title == SECTION_1_TITLE
    assert tuple(q.label for q in s1.questions) == SECTION_1_LABELS + IN_TIME_CHECKS
    yes_no = tuple(q.label for q in s1.questions if q.type == "yes_no")
    assert yes_no == IN_TIME_CHECKS
    assert all(q.required for q in s1.questions if q.type == "yes_no")
    assert question(audit, "section_1.category").type == "choice"


def test_section_2_has_the_sixteen_criteria_each_an_evaluation_and_a_grade(reg):
    audit = form(reg, "case_file_audit")
    assert audit.scope_months == 6  # BED App. A "SECTION 2 (review the past 6 months)"
    s2 = section(audit, "section_2")
    assert s2.title == SECTION_2_TITLE
    assert one_line(s2.guidance) == SECTION_2_GUIDANCE
    assert len(s2.questions) == len(CRITERIA) == 16
    assert [(q.label, q.prompts) for q in s2.questions] == list(CRITERIA)
    for number, q in enumerate(s2.questions, start=1):
        assert q.graded and q.type == "criterion", q.key
        assert q.label.startswith(f"{number}. ")
    assert question(audit, "section_2.criterion_02").guidance == CRITERION_2_GUIDANCE
    # Graded on Bedford's four-point scale, with the evaluation required.
    assert audit.grading.scale == "four_point" and audit.grading.evidence_required


def test_each_criterion_becomes_a_grade_and_an_evaluation_field(reg):
    audit = form(reg, "case_file_audit")
    fields = fields_of(reg, "bedford", audit).by_name()
    graded = [n for n in fields if n.startswith("grade.initial.section_2.criterion_")]
    assert len(graded) == 16
    grade = fields["grade.initial.section_2.criterion_07"]
    assert tuple(label for _, label in grade.options) == tuple(label for label, _ in FOUR_POINT)
    assert fields["evidence.initial.section_2.criterion_07"].required


def test_section_3_five_family_questions_or_the_reason_feedback_was_not_sought(reg):
    audit = form(reg, "case_file_audit")
    s3 = section(audit, "section_3")
    assert s3.title == SECTION_3_TITLE
    assert one_line(s3.guidance) == SECTION_3_GUIDANCE
    asked = [q for q in s3.questions if q.show_if and q.show_if.equals == ("yes",)]
    assert [(q.label, q.prompts) for q in asked] == list(FAMILY_QUESTIONS)
    not_sought = [q for q in s3.questions if q.show_if and q.show_if.equals == ("no",)]
    assert [q.key for q in not_sought] == ["reasons_not_sought", "another_manager"]
    # BED App. A SECTION 3: "If this is not appropriate, the reasons must be detailed below"
    assert not_sought[0].label == "If this is not appropriate, the reasons must be detailed below"
    # "... consideration must be given to whether another manager should seek to gain this feedback."
    assert not_sought[1].guidance == "consideration must be given to whether another manager should seek to gain this feedback."
    assert all(q.show_if.question == "section_3.feedback_sought" for q in s3.questions if q.show_if)

    # Through core's form rules: the questions are required only on their branch.
    fields = fields_of(reg, "bedford", audit)
    scheme = reg.scheme("qaf:auditor_judgement")
    sought = problems_for_submit(fields, {"answer.section_3.feedback_sought": "yes"}, scheme)
    assert "answer.section_3.q1_experience" in sought and "answer.section_3.reasons_not_sought" not in sought
    refused = problems_for_submit(fields, {"answer.section_3.feedback_sought": "no"}, scheme)
    assert "answer.section_3.reasons_not_sought" in refused and "answer.section_3.q1_experience" not in refused


def test_sections_4_5_and_6_comments_recommendations_summary_overall_grade(reg):
    audit = form(reg, "case_file_audit")
    s4 = section(audit, "section_4")
    assert (s4.title, s4.guidance) == (SECTION_4_TITLE, SECTION_4_GUIDANCE)
    s5 = section(audit, "section_5")
    assert (s5.title, s5.guidance) == (SECTION_5_TITLE, SECTION_5_GUIDANCE)
    table = question(audit, "section_5.recommendations")
    assert table.type == "table"
    assert tuple(c.label for c in table.columns) == RECOMMENDATION_COLUMNS
    assert [c.type for c in table.columns] == ["long_text", "date", "text"]
    assert section(audit, "section_5_summary").title == SUMMARY_TITLE
    summary = question(audit, "section_5_summary.summary")
    assert summary.label == SUMMARY_LABEL and summary.required
    # Section 6: the overall grade with its rationale (BED App. A "Rationale for Grade:").
    assert section(audit, "section_6").title == SECTION_6_TITLE
    assert audit.grading.rationale_required
    fields = fields_of(reg, "bedford", audit).by_name()
    assert fields["grade.initial.overall"].required and fields["evidence.initial.overall"].required


def test_the_four_point_scale_has_bedfords_own_descriptors(reg):
    scale = reg.scale("bedford:four_point")
    assert tuple((level.label, level.descriptor) for level in scale.levels) == FOUR_POINT
    assert [level.key for level in scale.levels] == ["outstanding", "good", "requires_improvement", "inadequate"]


# --- an inadequate case; remedial actions ---------------------------------------------


def test_an_inadequate_case_makes_the_auditor_inform_manager_and_social_worker(reg):
    r = rule(reg, "inadequate_case")
    assert r.event == "grade_final" and r.grades == ("inadequate",)
    assert set(r.notify) == {"team_manager", "practitioner"}
    assert "immediate" in r.action.lower()
    # BED App. A SECTION 2: "PLEASE NOTE Where a case is found to INADEQUATE, ..."
    assert quotes(r.source) == [f"PLEASE NOTE {INADEQUATE_SENTENCE}"]
    assert INADEQUATE_SENTENCE in one_line(section(form(reg, "case_file_audit"), "section_2").guidance)
    assert "inadequate" in [level.key for level in reg.scale("bedford:four_point").levels]


def test_remedial_actions_reach_worker_manager_and_chair_within_48_hours(reg):
    r = rule(reg, "remedial_actions")
    # BED s.3 All Auditors will: "... notified to the Worker and Manager within 48 hours ..."
    assert r.within_hours == 48
    assert r.within_working_days is None
    # "All Auditors will: Ensure that Remedial Actions are notified ...": the
    # task is the auditor's (to the worker, manager and, as required, the
    # IRO/CP Chair), and only where remedial actions were written (s.5).
    assert set(r.notify) == {"auditor"}
    assert r.answered == ("section_5.recommendations.recommendation",)
    assert REMEDIAL_ACTIONS in r.source
    # The workflow tells the same people the moment the audit is completed.
    done = wf.state(workflow(reg, "case_file_audit"), "qa_review")
    assert {"practitioner", "team_manager", "case_chair", "sqa_officer"} <= set(done.notify)


# --- s.3: team managers' and advanced practitioners' audits -------------------------


def test_a_team_manager_with_six_supervisees(programme):
    audits = items(programme, TM, "tm_case_file_audit")
    assert [i.due for i in audits] == MONTH_ENDS and all(i.count == 1 for i in audits)
    thematic = items(programme, TM, "tm_thematic_audit")
    assert len(thematic) == 4 and all(i.optional for i in thematic)
    assert "up to 4 a year" in thematic[0].note
    compliance = items(programme, TM, "tm_compliance_audit")
    assert sum(i.count for i in compliance) == 6 * 12 * 2 == 144
    assert {i.count for i in compliance} == {2} and not any(i.optional for i in compliance)
    per_supervisee = Counter(i.supervisee for i in compliance)
    assert per_supervisee == {m.name: 12 for m in TEAM}
    assert sorted({i.due for i in compliance}) == MONTH_ENDS
    # The AP's own supervisees are the AP's to compliance-audit, not the TM's.
    assert not {m.name for m in AP_TEAM} & set(per_supervisee)


def test_an_advanced_practitioner_has_the_same_duties(programme):
    assert len(items(programme, AP, "ap_case_file_audit")) == 12
    thematic = items(programme, AP, "ap_thematic_audit")
    assert len(thematic) == 4 and all(i.optional for i in thematic)
    compliance = items(programme, AP, "ap_compliance_audit")
    assert Counter(i.supervisee for i in compliance) == {m.name: 12 for m in AP_TEAM}
    assert sum(i.count for i in compliance) == 2 * 12 * 2


def test_the_schedules_say_what_the_seed_says(reg):
    for role, who in (("tm", "Team Managers"), ("ap", "Advanced Practitioners")):
        audit = schedule(reg, f"{role}_case_file_audit")
        assert audit.frequency.every == "month" and audit.form == "case_file_audit"
        # BED s.3: "All Team Managers / Advanced Practitioners will undertake one case file audit per month;"
        assert f"All {who} will undertake one case file audit per month;" in audit.source
        thematic = schedule(reg, f"{role}_thematic_audit")
        assert (thematic.frequency.every, thematic.frequency.at_most) == ("year", 4)
        # BED s.3: "... may undertake up to four additional thematic audits each year ..."
        assert f"{who} may undertake up to four additional thematic audits each year on key areas of concern for the service." in thematic.source
        compliance = schedule(reg, f"{role}_compliance_audit")
        assert (compliance.frequency.every, compliance.frequency.per, compliance.frequency.count) == ("month", "supervisee", 2)
        assert compliance.form == "compliance_audit"
        # BED s.3: "... will ensure at least 2 compliance audits for each member of staff they supervise ..."
        assert f"{who} will ensure at least 2 compliance audits for each member of staff they supervise are completed prior to supervision." in compliance.source
    # The reading that makes supervision monthly, quoting BED App. B PROFESSIONAL SUPERVISION.
    reading = one_line(schedule(reg, "tm_compliance_audit").reading)
    assert PROFESSIONAL_SUPERVISION_QUESTIONS[0] in reading


def test_the_compliance_audit_checks_and_management_direction(reg):
    compliance = form(reg, "compliance_audit")
    checks = section(compliance, "checks")
    assert checks.title == "Compliance audits should cover the following"  # BED s.3 Forms and Guidance
    assert tuple(q.label for q in checks.questions) == COMPLIANCE_CHECKS
    assert all(q.type == "yes_no_comment" and q.required for q in checks.questions)
    note = question(compliance, "remedial_actions.management_direction_note")
    assert note.show_if.question == "remedial_actions.required" and note.show_if.equals == ("yes",)
    assert note.label.startswith("Management direction case note") and "detailing the required actions and timescales" in note.label
    assert MANAGEMENT_DIRECTION in one_line(compliance.guidance)
    flow = workflow(reg, "compliance_audit")
    assert [t.to for t in flow.transitions if t.key in ("submit", "reviewed")] == ["review_in_supervision", "closed"]
    assert wf.state(flow, "closed").final


# --- s.3: senior managers' quality assurance -----------------------------------------


def test_senior_managers_quality_assure_audits_and_can_commission_an_independent_audit(reg):
    flow = workflow(reg, "case_file_audit")
    for senior in ("head_of_service", "chief_officer", "director"):
        keys = {t.key for t in wf.available(flow, "qa_review", {senior})}
        assert keys == {"accept", "return", "commission_independent_audit"}, senior
    # The auditor (a TM or AP) cannot quality-assure their own audit.
    assert wf.available(flow, "qa_review", {"auditor", "team_manager"}) == []
    with pytest.raises(wf.TransitionRefused):
        wf.check(flow, "qa_review", "accept", {"auditor"})
    assert wf.check(flow, "qa_review", "return", {"head_of_service"}).reason_required
    # Feedback goes back to the TM/AP who audited; the S&QA manager hears of a commission.
    assert wf.state(flow, "final").notify == ("auditor",)
    commissioned = wf.state(flow, "independent_audit_commissioned")
    assert commissioned.final and "sqa_manager" in commissioned.notify
    # BED s.3 Senior Managers: the two sentences, each quoted by its schedule.
    review, learning = SOURCE_SENTENCES["s.3 Senior Managers"]
    assert review in schedule(reg, "hos_audit_quality_assurance").source
    assert "where required the Manager will commission the Safeguarding and Quality Assurance team to undertake an independent audit" in learning
    assert source_sentence(quotes(schedule(reg, "hos_learning_in_supervision").source)[0]) == learning
    independent = schedule(reg, "sqa_independent_audit")
    assert independent.role == "sqa_officer" and independent.form == "case_file_audit"
    for role in ("hos", "chief_officer", "director"):
        qa = schedule(reg, f"{role}_audit_quality_assurance")
        assert qa.frequency.every == "as_required"
        assert all(source_sentence(fragment) == review for fragment in quotes(qa.source))


# --- s.3 / s.7: the S&QA team and leadership groups ----------------------------------


def test_the_sqa_team_reports_monthly_dip_samples_and_leads_themed_audit_days(reg, programme):
    sqa = SOURCE_SENTENCES["s.3 S&QA"]
    sqa_manager = next(m for m in STAFF if m.role == "sqa_manager")
    report = items(programme, sqa_manager, "sqa_monthly_overview_report")
    assert [i.due for i in report] == MONTH_ENDS
    # BED s.3: "Complete monthly overview reports on all quality assurance activity, reporting to DMT. ..."
    assert sqa[0] in schedule(reg, "sqa_monthly_overview_report").source
    dip = form(reg, "audit_dip_sample")
    assert [q.label for q in section(dip, "findings").questions] == [
        "Is the quality of audits of a high standard?", "Are remedial actions being followed through?",
    ]  # fmt: skip
    # BED s.3: "Dip sample audits to ensure that the quality of audits is of a high standard ..."
    assert dip.guidance == sqa[2]
    assert schedule(reg, "sqa_dip_sample").form == "audit_dip_sample"
    day = schedule(reg, "sqa_themed_audit_day")
    assert "targeted action plan" in day.activity
    # BED s.7: "The S&QA team will ensure that the outcome of each themed audit day leads to a targeted action plan ..."
    assert SOURCE_SENTENCES["s.7"][4] in day.source
    # DMT (and SLT where relevant) at least quarterly, in the April-March year.
    for group, key in (("dmt", "dmt_case_file_audit_findings"), ("slt", "slt_case_file_audit_findings")):
        member = next(m for m in STAFF if m.role == group)
        assert [i.due for i in items(programme, member, key)] == QUARTER_ENDS
    # BED s.3 Leadership Groups: "DMT and where relevant, SLT will all consider ... at least quarterly, ..."
    assert SOURCE_SENTENCES["s.3 Leadership Groups"][0] in schedule(reg, "dmt_case_file_audit_findings").source


# --- s.4 and App. B: supervision audits ------------------------------------------------


def test_the_supervision_audit_has_a_case_and_a_professional_variant(reg):
    case = form(reg, "case_supervision_audit")
    professional = form(reg, "professional_supervision_audit")
    case_section = section(case, "case_file_supervision")
    assert case_section.title == "CASE FILE SUPERVISION"
    assert one_line(case_section.guidance) == CASE_SUPERVISION_GUIDANCE
    # Word for word, in the seed's order.
    assert tuple(q.label for q in case_section.questions) == CASE_SUPERVISION_QUESTIONS
    professional_section = section(professional, "professional_supervision")
    assert professional_section.title == "PROFESSIONAL SUPERVISION"
    assert one_line(professional_section.guidance) == PROFESSIONAL_SUPERVISION_GUIDANCE
    assert tuple(q.label for q in professional_section.questions) == PROFESSIONAL_SUPERVISION_QUESTIONS
    for questions in (case_section.questions, professional_section.questions):
        assert all(q.type == "yes_no_comment" and q.required for q in questions)
    assert tuple(q.label for q in section(case, "details").questions) == CASE_SUPERVISION_DETAILS
    assert tuple(q.label for q in section(professional, "details").questions) == PROFESSIONAL_SUPERVISION_DETAILS
    assert case.scope_months == professional.scope_months == 6
    assert (case.guidance, professional.guidance) == (CASE_SCOPE, PROFESSIONAL_SCOPE)
    # Actions are recorded in the audited supervisor's supervision record; a copy goes to S&QA.
    for f in (case, professional):
        assert one_line(section(f, "outcome").guidance) == SUPERVISION_REVIEW
    assert "sqa_officer" in wf.state(workflow(reg, "supervision_audit"), "final").notify


def test_heads_of_service_and_team_managers_audit_supervision_monthly(reg, programme):
    hos = next(m for m in STAFF if m.role == "head_of_service")
    for key, form_key, sentence in (
        ("hos_professional_supervision_audit", "professional_supervision_audit", HOS_SUPERVISION_AUDITS),
        ("hos_case_supervision_audit", "case_supervision_audit", HOS_SUPERVISION_AUDITS),
        ("tm_professional_supervision_audit", "professional_supervision_audit", TM_SUPERVISION_AUDITS),
        ("tm_case_supervision_audit", "case_supervision_audit", TM_SUPERVISION_AUDITS),
    ):
        assert schedule(reg, key).form == form_key
        person = hos if key.startswith("hos") else TM
        assert [i.due for i in items(programme, person, key)] == MONTH_ENDS
        # BED s.4: each schedule quotes its half of the seed's sentence.
        assert [source_sentence(f) for f in quotes(schedule(reg, key).source)] == [sentence]
    # "their Advanced Practitioner's": a Team Manager with none to audit has no
    # supervision audit in their programme (nor a Head of Service with no Team Manager).
    lone_tm = StaffMember(40, "Lone Manager", "team_manager", line_manager=2)
    lone_hos = StaffMember(41, "Lone Head", "head_of_service")
    others = expand(reg, "bedford", YEAR, [*STAFF, lone_tm, StaffMember(42, "Worker", "social_worker", line_manager=40), lone_hos])
    held = {(i.person, i.schedule) for i in others}
    assert ("Lone Manager", "tm_case_supervision_audit") not in held
    assert ("Lone Manager", "tm_compliance_audit") in held  # the worker's compliance audits still stand
    assert ("Lone Head", "hos_professional_supervision_audit") not in held
    assert ("Tara Manager", "tm_case_supervision_audit") in held and ("Hal Head", "hos_case_supervision_audit") in held
    assert [i.due for i in items(programme, hos, "hos_supervision_audit_summary")] == QUARTER_ENDS
    # BED s.4: "Manager (Head of Service) will prepare a quarterly summary of issues and learning from supervision audits;"
    assert SOURCE_SENTENCES["s.4"][2] in schedule(reg, "hos_supervision_audit_summary").source
    dmt = next(m for m in STAFF if m.role == "dmt")
    assert [i.due for i in items(programme, dmt, "dmt_supervision_audit_findings")] == QUARTER_ENDS


# --- s.5 and App. C: practice observation -------------------------------------------


def test_the_practice_observation_form(reg):
    observation = form(reg, "practice_observation")
    assert observation.title == PRACTICE_OBSERVATION_TITLE
    assert one_line(observation.guidance) == PRACTICE_OBSERVATION_GUIDANCE
    assert tuple(s.title for s in observation.sections if s.domain) == PRACTICE_AREAS
    assert observation.grading.scale == "observation_skills"
    scale = reg.scale("bedford:observation_skills")
    # Printed worst first in App. C; a qaf scale is best first.
    assert tuple(level.label for level in reversed(scale.levels)) == SKILLS_AS_PRINTED
    details = section(observation, "details")
    from_seed = tuple(q.label for q in details.questions if q.key not in ("pdr_priorities", "needs_support"))
    assert from_seed == PRACTICE_OBSERVATION_DETAILS
    for key in ("went_well", "needs_development"):
        assert question(observation, f"details.{key}").guidance == "Explain your judgement"  # BED App. C
    comments = section(observation, "comments")
    assert tuple(q.label for q in comments.questions) == PRACTICE_OBSERVATION_COMMENTS
    # BED s.5: "All Team Managers/APs will share Observations with workers and undertake a
    # shared reflective review ..." then "All TMs/APs will share completed Observations
    # with their line manager and the S&QA team;"
    flow = workflow(reg, "practice_observation")
    assert wf.state(flow, "reflective_review").notify == ("practitioner",)
    assert {"head_of_service", "sqa_officer"} <= set(wf.state(flow, "final").notify)


def test_every_worker_is_observed_yearly_and_workers_needing_support_every_six_months(reg, programme):
    observed = items(programme, TM, "tm_practice_observation")
    assert Counter(i.supervisee for i in observed) == {m.name: 1 for m in TEAM}
    assert {i.due for i in observed} == {MONTH_ENDS[-1]}
    by_ap = items(programme, AP, "ap_practice_observation")
    assert Counter(i.supervisee for i in by_ap) == {m.name: 1 for m in AP_TEAM}
    support = items(programme, TM, "tm_support_observation")
    assert [i.due for i in support] == [MONTH_ENDS[5], MONTH_ENDS[11]]
    assert schedule(reg, "tm_support_observation").frequency.interval == 6
    # BED s.5: "... These workers will be observed at least every 6 months, ..." and
    # "All Team Managers (or APs where agreed locally) will observe the practice of workers at least once every year;"
    assert "These workers will be observed at least every 6 months, and more frequently where required;" in schedule(reg, "tm_support_observation").source
    assert "will observe the practice of workers at least once every year;" in schedule(reg, "tm_practice_observation").source


# --- s.6: observation of meetings -----------------------------------------------------


def test_meeting_observation_has_the_seven_meeting_types_and_fourteen_areas(reg):
    meeting = form(reg, "meeting_observation")
    assert meeting.title == "Observation of Meetings"  # BED s.6
    assert tuple(o.label for o in question(meeting, "details.meeting").options) == MEETING_TYPES
    assert len(MEETING_TYPES) == 7 and len(MEETING_AREAS) == 14
    # Thirteen graded domains; the fourteenth, "Overall effectiveness", is the overall grade.
    domains = tuple(s.title for s in meeting.sections if s.domain)
    assert domains == MEETING_AREAS[:13]
    assert section(meeting, "area_14").title == MEETING_AREAS[13]
    assert not section(meeting, "area_14").domain
    # BED s.6 Forms and Guidance: "Please see Appendix C: Practice Observation
    # (Children's Services)": judged on App. C's skills scale.
    assert meeting.grading.scale == "observation_skills"
    assert "App. C" in meeting.source


def test_who_observes_meetings_and_the_shared_record_with_the_chair(reg, programme):
    hos = next(m for m in STAFF if m.role == "head_of_service")
    chief = next(m for m in STAFF if m.role == "chief_officer")
    director = next(m for m in STAFF if m.role == "director")
    assert len(items(programme, hos, "hos_meeting_observation")) == 2
    assert len(items(programme, chief, "chief_officer_meeting_observation")) == 1
    assert len(items(programme, director, "director_meeting_observation")) == 1
    twice, once = SOURCE_SENTENCES["s.6"]
    assert quotes(schedule(reg, "hos_meeting_observation").source) == [twice]
    for key in ("chief_officer_meeting_observation", "director_meeting_observation"):
        assert quotes(schedule(reg, key).source) == [once]
    chair = section(form(reg, "meeting_observation"), "chair_discussion")
    assert one_line(chair.guidance) == CHAIR_DISCUSSION
    assert {q.key for q in chair.questions} >= {"discussed_on", "learning", "actions"}
    flow = workflow(reg, "meeting_observation")
    assert [t.to for t in flow.transitions if t.key in ("submit", "complete")] == ["chair_discussion", "final"]
    assert wf.state(flow, "final").notify == ("sqa_officer",)


# --- s.2 / s.3: the random sample -----------------------------------------------------


def test_a_random_sample_of_roughly_ten_percent_c140_a_year(reg, programme):
    sample = schedule(reg, "sqa_random_sample")
    # BED s.3 Rationale: "Complete file audits on a random 10% sample of cases each year (c.140) ..."
    assert sample.frequency.count == 140
    assert sample.frequency.every == "year"
    assert "roughly 10%" in sample.activity
    # BED s.2: "A random sample of roughly 10% of cases per year"
    assert "A random sample of roughly 10% of cases per year" in sample.source
    assert "c.140" in sample.reading
    sqa_manager = next(m for m in STAFF if m.role == "sqa_manager")
    drawn = items(programme, sqa_manager, "sqa_random_sample")
    assert [(i.due, i.count) for i in drawn] == [(MONTH_ENDS[-1], 140)]


# --- App. D: the Conference and Review Service -----------------------------------------


def test_the_conference_and_review_team_manager_each_month(reg, programme):
    crs = next(m for m in STAFF if m.role == "crs_team_manager")
    monthly = {
        "crs_observe_cp_conference": "crs_observation",
        "crs_observe_lac_review": "crs_observation",
        "crs_audit_cp_minutes": "crs_minutes_audit",
        "crs_audit_lac_minutes": "crs_minutes_audit",
        "crs_audit_cp_plan": "crs_plan_audit",
        "crs_audit_lac_plan": "crs_plan_audit",
    }
    for key, form_key in monthly.items():
        assert schedule(reg, key).form == form_key
        assert [(i.due, i.count) for i in items(programme, crs, key)] == [(d, 1) for d in MONTH_ENDS]
    # BED App. D Team Manager 1-3, each form carrying its paragraph.
    assert one_line(form(reg, "crs_observation").guidance) == CRS_OBSERVATION
    assert one_line(form(reg, "crs_minutes_audit").guidance) == CRS_MINUTES
    assert one_line(form(reg, "crs_plan_audit").guidance) == CRS_PLANS
    plan = section(form(reg, "crs_plan_audit"), "plan_quality")
    assert [q.key for q in plan.questions] == ["robust", "smart", "child_centred"]
    minutes = section(form(reg, "crs_minutes_audit"), "minutes")
    # "ensuring the quality of minutes, evidence of multi-agency input and decision making and child centred planning."
    assert [q.label for q in minutes.questions] == ["Quality of minutes", "Evidence of multi-agency input and decision making", "Child centred planning"]


def test_chairs_monitoring_forms_midway_reviews_and_escalations(reg):
    for role in ("iro", "cp_chair"):
        assert schedule(reg, f"{role}_monitoring_form").form == "crs_monitoring"
        assert schedule(reg, f"{role}_midway_review").form == "crs_midway_review"
        assert schedule(reg, f"{role}_monitoring_form").frequency.every == "as_required"
    monitoring = form(reg, "crs_monitoring")
    assert one_line(monitoring.guidance) == CRS_MONITORING
    # "These forms highlight the preparation for conference/ review, quality of assessment and plan and any concerns."
    assert [q.label for q in section(monitoring, "monitoring").questions][:4] == [
        "Preparation for conference/ review", "Quality of assessment", "Quality of plan", "Any concerns",
    ]  # fmt: skip
    assert one_line(form(reg, "crs_midway_review").guidance) == CRS_MIDWAY
    # The escalation: to the relevant Team Manager, or the service's Manager when serious.
    to_tm, serious = rule(reg, "chair_escalation"), rule(reg, "chair_escalation_serious")
    assert (to_tm.event, to_tm.notify) == ("child_safety_concern", ("team_manager",))
    assert (serious.event, serious.notify) == ("child_safety_concern", ("head_of_service",))
    assert quotes(to_tm.source) == [CHAIR_ESCALATION]
    assert quotes(serious.source) == [CHAIR_ESCALATION_SERIOUS]
    flow = workflow(reg, "crs_monitoring")
    assert wf.state(flow, wf.transition(flow, "escalate").to).notify == ("team_manager",)
    assert wf.state(flow, wf.transition(flow, "escalate_to_service_manager").to).notify == ("head_of_service",)
    # The Team Manager may pass an escalation up when it needs a management decision.
    assert {t.key for t in wf.available(flow, "escalated", {"team_manager"})} == {"escalate_to_service_manager", "resolve"}
    assert reg.role("bedford:head_of_service").label == "Manager (Head of Service)"


# --- fidelity and coexistence ----------------------------------------------------------


def test_every_quoted_source_is_a_seed_sentence(reg):
    """Every schedule and escalation rule quotes the seed word for word: each
    quoted fragment comes from one of SOURCE_SENTENCES, and each of those is
    still quoted by some definition."""
    definitions = [s.value for k, s in reg.schedules.items() if k.startswith("bedford:")]
    definitions += [s.value for k, s in reg.escalations.items() if k.startswith("bedford:")]
    assert len(definitions) >= 55
    quoted: set[str] = set()
    for definition in definitions:
        fragments = quotes(definition.source)
        assert fragments, f"{definition.key}: source quotes nothing"
        for fragment in fragments:
            sentence = source_sentence(fragment)
            assert sentence is not None, f"{definition.key}: {fragment!r} is not a sentence of the seed"
            quoted.add(sentence)
    unquoted = [s for sentences in SOURCE_SENTENCES.values() for s in sentences if s not in quoted]
    assert unquoted == []


def test_bedford_and_haringey_load_together_without_collisions(tmp_path):
    both = load_plugins(
        Settings(data_dir=tmp_path, database_url="sqlite:///unused", councils=("haringey", "bedford"), secret_key="k" * 40)
    )
    registry = both.registry
    assert set(registry.councils) == {"haringey", "bedford"}
    # Same local key, two councils, two different scales.
    bedford_scale, haringey_scale = registry.scale("bedford:four_point"), registry.scale("haringey:four_point")
    assert bedford_scale.levels[1].descriptor == FOUR_POINT[1][1]
    assert haringey_scale.levels[1].descriptor != bedford_scale.levels[1].descriptor
    supplied = registry.supplied_by()
    assert "form bedford:case_file_audit v1" in supplied["bedford"]
    assert not any(item.startswith(("form haringey", "role haringey")) for item in supplied["bedford"])
    # Bedford's programme is unchanged by Haringey being there.
    assert len(expand(registry, "bedford", YEAR, STAFF)) == len(expand(load_plugins(
        Settings(data_dir=tmp_path, database_url="sqlite:///unused", councils=("bedford",), secret_key="k" * 40)
    ).registry, "bedford", YEAR, STAFF))
