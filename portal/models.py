"""Every domain's tables, imported in one place so the metadata is complete."""
from portal.auth.models import User  # noqa: F401
from portal.donors.models import Donor, DonorRedirect, DuplicatePair, ErasedEmail, ImportBatch, Tag  # noqa: F401
from portal.giving.models import DonorStats, Gift, RecurringPlan  # noqa: F401
from portal.journey.models import Touchpoint  # noqa: F401
from portal.settings.models import Organisation  # noqa: F401
from portal.engagement.models import BulkSend, EmailMessage, EmailTemplate, EngagementSettings, Segment, Workflow, WorkflowRun, WorkflowRunStep, WorkflowStep  # noqa: F401
from portal.support.models import Task, Ticket, TicketMessage  # noqa: F401
from portal.loyalty.models import LoyaltyAccount, LoyaltyRules, PointsEntry, Redemption, Reward, Tier  # noqa: F401
from portal.donors.preferences import TopicOptOut  # noqa: F401
from portal.kb.models import Article, ArticleSuggestion, ArticleView, ArticleVote, SearchLog, SuggestionState  # noqa: F401
from portal.feedback.models import Survey, SurveyInvitation, SurveyResponse  # noqa: F401
from portal.retention.models import Alert, RiskScore  # noqa: F401
from portal.insights.models import DonorMilestones, ReportSnapshot  # noqa: F401
from portal.audit.models import AuditEvent  # noqa: F401
from portal.privacy.models import DataExport  # noqa: F401
from portal.taxrelief.models import Adjustment, Benefit, Claim, ClaimGift, ClaimLine, Declaration, GiftExclusion, MonthFigure, RewardValue, TaxReliefSettings  # noqa: F401
